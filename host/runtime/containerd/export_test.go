package containerd

// SetShimPerPod switches the one-shim-per-pod grouping for a benchmark that
// compares it with a shim per container; the returned func restores it.
// Runtimes must not be starting containers while it changes.
func SetShimPerPod(on bool) (restore func()) {
	was := shimPerPod
	shimPerPod = on
	return func() { shimPerPod = was }
}

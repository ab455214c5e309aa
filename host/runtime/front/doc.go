// Package front is staticlet's kubelet front: an agent.Runtime that "runs" a
// pod by publishing it, and the HTTP handler that serves the published pods
// as a PodList on the URL the kubelet reads as its staticPodURL. The kubelet
// then runs the pods, names them <name>-<node> and keeps their mirror pods;
// staticlet keeps the folder, the admission chain and last-good-wins in front
// of it.
//
// The pure part (Served, PodListJSON) turns the agent's pods into the bytes
// the kubelet reads, stable for equal content. The IO this package does: it
// persists the published set to one JSON file so a restarted staticlet serves
// what the kubelet runs at once (an empty list would make the kubelet stop
// every pod), it listens on a TCP address, and with a client it watches the
// mirror pods the kubelet keeps to report their status back to the agent.
package front

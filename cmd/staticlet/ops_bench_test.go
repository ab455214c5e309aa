package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/staticlet/staticlet/internal/testenv"
)

// procTimes returns a process's user+system CPU time and resident memory.
func procTimes(t testing.TB, pid int) (cpu time.Duration, rssBytes int64) {
	t.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name (which may contain spaces).
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	const clockTicks = 100 // USER_HZ on Linux
	cpu = time.Duration(utime+stime) * time.Second / clockTicks
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			kb, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			rssBytes = kb * 1024
		}
	}
	return cpu, rssBytes
}

// BenchmarkIdleAgent runs the built agent with 0, 20 and 200 running pods
// and reports its CPU use and RSS over a quiet 10 s window, and the cost of
// one /metrics scrape, against a baseline in the same run: the scrape of an
// agent with no pods.
func BenchmarkIdleAgent(b *testing.B) {
	address := testenv.Containerd(b)
	bin := buildBinariesTB(b)
	for _, pods := range []int{0, 20, 200} {
		b.Run(fmt.Sprintf("pods=%d", pods), func(b *testing.B) {
			ns := fmt.Sprintf("stl-idle-%d-%d", os.Getpid(), pods)
			image := testenv.ImportBusybox(b, address, ns)
			dir := b.TempDir()
			manifests := filepath.Join(dir, "manifests")
			os.Mkdir(manifests, 0o755)
			for i := 0; i < pods; i++ {
				os.WriteFile(filepath.Join(manifests, fmt.Sprintf("p%03d.yaml", i)), []byte(fmt.Sprintf(
					"apiVersion: v1\nkind: Pod\nmetadata: {name: p%03d}\nspec:\n  terminationGracePeriodSeconds: 0\n  containers:\n  - {name: main, image: %q, imagePullPolicy: Never, command: [sleep, '3600']}\n", i, image)), 0o644)
			}
			metricsAddr := freeAddressAny(b)
			cmd := exec.Command(bin, "run", "--node-name", "node1", "--pod-manifest-path", manifests,
				"--containerd-address", address, "--containerd-namespace", ns, "--state-dir", filepath.Join(dir, "state"),
				"--pod-log-dir", filepath.Join(dir, "pods"), "--status-socket", filepath.Join(dir, "status.sock"),
				"--metrics-address", metricsAddr, "--log-level", "warn")
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			defer func() {
				// Stop the pods: remove the manifests and let the agent act.
				entries, _ := os.ReadDir(manifests)
				for _, e := range entries {
					os.Remove(filepath.Join(manifests, e.Name()))
				}
				waitForTB(b, "pods stopped", 5*time.Minute, func() bool {
					_, body := httpGet("http://" + metricsAddr + "/metrics")
					return !strings.Contains(body, `staticlet_pods{phase="Running"}`)
				})
				cmd.Process.Kill()
				cmd.Wait()
			}()
			base := "http://" + metricsAddr
			waitForTB(b, "all pods running", 10*time.Minute, func() bool {
				code, body := httpGet(base + "/metrics")
				if code != 200 {
					return false
				}
				if pods == 0 {
					return strings.Contains(body, "staticlet_synced 1")
				}
				return strings.Contains(body, fmt.Sprintf(`staticlet_pods{phase="Running"} %d`, pods))
			})
			time.Sleep(2 * time.Second) // let start-up work settle
			cpu0, _ := procTimes(b, cmd.Process.Pid)
			const window = 10 * time.Second
			time.Sleep(window)
			cpu1, rss := procTimes(b, cmd.Process.Pid)
			b.ResetTimer()
			for b.Loop() {
				if code, _ := httpGet(base + "/metrics"); code != 200 {
					b.Fatal("scrape failed")
				}
			}
			b.StopTimer()
			b.ReportMetric(100*float64(cpu1-cpu0)/float64(window), "idle-cpu-%")
			b.ReportMetric(float64(rss)/(1<<20), "rss-MiB")
		})
	}
}

func buildBinariesTB(b *testing.B) string { return testenv.StaticletBinary(b) }

func waitForTB(b *testing.B, what string, timeout time.Duration, cond func() bool) {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

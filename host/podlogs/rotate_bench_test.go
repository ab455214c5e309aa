package podlogs

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkShimLoggerRotation is the logger's throughput: 100 MiB of
// 100-byte lines through a Writer to a log file, without rotation and with
// the kubelet's default policy (10Mi, 5 files), interleaved so both see the
// same machine. An op is the 100 MiB, Close included (with rotation it
// waits for the last compressions).
//
//	go test -run '^$' -bench ShimLoggerRotation -benchtime 5x -count 3 ./host/podlogs
func BenchmarkShimLoggerRotation(b *testing.B) {
	const total = 100 << 20
	line := append(bytes.Repeat([]byte{'x'}, 99), '\n')
	input := bytes.Repeat(line, total/len(line))
	for _, bc := range []struct {
		name string
		rot  Rotation
	}{
		{"no-limit", Rotation{}},
		{"max-size=10Mi", Rotation{MaxBytes: DefaultRotationMaxBytes, MaxFiles: DefaultRotationMaxFiles}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(input)))
			dir := b.TempDir()
			for b.Loop() {
				path := filepath.Join(dir, "0.log")
				f, err := OpenRotatingFile(path, bc.rot, nil)
				if err != nil {
					b.Fatal(err)
				}
				if err := NewWriter(f, nil).CopyStream(Stdout, bytes.NewReader(input)); err != nil {
					b.Fatal(err)
				}
				if err := f.Close(); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				files, _ := filepath.Glob(path + "*")
				if bc.rot.MaxBytes > 0 && len(files) > bc.rot.MaxFiles {
					b.Fatalf("%d files", len(files))
				}
				for _, name := range files {
					os.Remove(name)
				}
				b.StartTimer()
			}
		})
	}
}

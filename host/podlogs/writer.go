package podlogs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// Stream names as they appear in a record.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

// Tags of a record: F ends a line, P is a chunk of a longer one.
const (
	TagFull    = "F"
	TagPartial = "P"
)

// MaxLineBytes is the longest content one record carries, as in containerd's
// CRI logger; longer lines are split into P records.
const MaxLineBytes = 16 * 1024

// Writer writes records from several streams to one destination, whole
// records at a time.
type Writer struct {
	mu  sync.Mutex
	dst io.Writer
	now func() time.Time
}

// NewWriter returns a Writer on dst; now stamps records (time.Now if nil).
func NewWriter(dst io.Writer, now func() time.Time) *Writer {
	if now == nil {
		now = time.Now
	}
	return &Writer{dst: dst, now: now}
}

// CopyStream reads src until EOF and writes one record per line (or chunk)
// tagged with stream. A last line without a newline is written as a full
// line, like containerd's CRI logger does at EOF.
func (w *Writer) CopyStream(stream string, src io.Reader) error {
	r := bufio.NewReaderSize(src, MaxLineBytes)
	for {
		line, err := r.ReadSlice('\n')
		switch {
		case err == nil:
			if werr := w.record(stream, TagFull, line[:len(line)-1]); werr != nil {
				return werr
			}
		case errors.Is(err, bufio.ErrBufferFull):
			if werr := w.record(stream, TagPartial, line); werr != nil {
				return werr
			}
		case errors.Is(err, io.EOF):
			if len(line) > 0 {
				if werr := w.record(stream, TagFull, line); werr != nil {
					return werr
				}
			}
			return nil
		default:
			return fmt.Errorf("read %s: %w", stream, err)
		}
	}
}

func (w *Writer) record(stream, tag string, content []byte) error {
	buf := make([]byte, 0, len(content)+48)
	buf = w.now().UTC().AppendFormat(buf, time.RFC3339Nano)
	buf = append(buf, ' ')
	buf = append(buf, stream...)
	buf = append(buf, ' ')
	buf = append(buf, tag...)
	buf = append(buf, ' ')
	buf = append(buf, content...)
	buf = append(buf, '\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := w.dst.Write(buf); err != nil {
		return fmt.Errorf("write log record: %w", err)
	}
	return nil
}

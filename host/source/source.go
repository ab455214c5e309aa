package source

import "context"

// Names of the sources, also written into the config.source annotation.
const (
	NameFile = "file"
	NameHTTP = "http"
)

// File is one entry of a listing: a manifest's bytes, or why there are none.
type File struct {
	// Source is the name of the source (NameFile, NameHTTP).
	Source string
	// Path identifies the entry: the file's path (as found under the
	// configured root, not resolved through symlinks) or a URL.
	Path string
	// Ignored is non-empty when the entry is not a manifest candidate at all
	// (editor debris, hidden file, subfolder); it says why.
	Ignored string
	// ReadErr is set when the entry is a candidate but could not be read.
	ReadErr error
	// Content is the manifest's bytes; Digest is their SHA-256, hex encoded.
	Content []byte
	Digest  string
}

// Listing is a whole snapshot of one source.
type Listing struct {
	Source string
	// Root is what the source reads (a folder, a file, a URL).
	Root string
	// Complete is false when the source could not tell what it holds (the
	// folder was unreadable); the agent then keeps what it had. A missing
	// folder is a complete listing of no files, as with the kubelet.
	Complete bool
	// Note explains an empty or incomplete listing, e.g. "path does not exist".
	Note  string
	Files []File
}

// Mailbox hands the newest listing from one producer to one consumer. A
// listing is a whole snapshot, so an unread one can be replaced by a newer one
// without losing anything, and a slow consumer never blocks the watcher.
type Mailbox struct {
	ch chan Listing
}

// NewMailbox returns an empty mailbox.
func NewMailbox() *Mailbox { return &Mailbox{ch: make(chan Listing, 1)} }

// Put replaces any unread listing with l. Only one goroutine may call Put.
func (m *Mailbox) Put(l Listing) {
	select {
	case <-m.ch:
	default:
	}
	m.ch <- l
}

// C is where the consumer receives listings.
func (m *Mailbox) C() <-chan Listing { return m.ch }

// Wait returns the next listing or the context's error.
func (m *Mailbox) Wait(ctx context.Context) (Listing, error) {
	select {
	case l := <-m.ch:
		return l, nil
	case <-ctx.Done():
		return Listing{}, ctx.Err()
	}
}

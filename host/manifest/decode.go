package manifest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// MaxSize is the largest manifest accepted, as in the kubelet.
const MaxSize = 10 << 20

// Sentinel kinds of decoding failure, checked with errors.Is.
var (
	ErrTooLarge          = errors.New("manifest too large")
	ErrEmpty             = errors.New("manifest empty")
	ErrBinary            = errors.New("not a text manifest")
	ErrMultipleDocuments = errors.New("more than one document")
	ErrSyntax            = errors.New("syntax error")
	ErrNotPod            = errors.New("not a v1 Pod")
	ErrSchema            = errors.New("does not match the Pod schema")
)

// Error is a decoding failure naming the field (when there is one) and the
// reason. Unwrap gives the sentinel kind.
type Error struct {
	Field  string
	Reason string
	Kind   error
}

func (e *Error) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s: %s", e.Kind, e.Reason)
	}
	return fmt.Sprintf("%s: %s: %s", e.Field, e.Kind, e.Reason)
}

func (e *Error) Unwrap() error { return e.Kind }

// Document is one decoded manifest.
type Document struct {
	// Pod is the typed manifest as written (no defaulting yet).
	Pod *corev1.Pod
	// CanonicalJSON is the manifest as compact JSON with object keys sorted
	// and the status stanza dropped: formatting, comments, key order and
	// YAML-versus-JSON do not change it. The pod UID is a hash of it.
	CanonicalJSON []byte
	// Warnings are problems that do not stop the pod, such as unknown fields.
	Warnings []string
}

// Decode parses one manifest file's content.
func Decode(data []byte) (*Document, error) {
	if len(data) > MaxSize {
		return nil, &Error{Kind: ErrTooLarge, Reason: fmt.Sprintf("%d bytes, the limit is %d", len(data), MaxSize)}
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // UTF-8 byte order mark
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return nil, &Error{Kind: ErrBinary, Reason: fmt.Sprintf("NUL byte at offset %d", i)}
	}
	if !utf8.Valid(data) {
		return nil, &Error{Kind: ErrBinary, Reason: "content is not valid UTF-8"}
	}
	trimmed := bytes.TrimSpace(data)
	var jsonData []byte
	var err error
	if len(trimmed) > 0 && trimmed[0] == '{' {
		jsonData, err = singleJSON(trimmed)
	} else {
		jsonData, err = singleYAML(data)
	}
	if err != nil {
		return nil, err
	}
	return decodePod(jsonData)
}

func singleJSON(data []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, &Error{Kind: ErrSyntax, Reason: jsonErrorReason(data, err)}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &Error{Kind: ErrMultipleDocuments, Reason: fmt.Sprintf("trailing data after the JSON object at offset %d; put one Pod per file", dec.InputOffset())}
	}
	return raw, nil
}

func jsonErrorReason(data []byte, err error) string {
	if ok, offset := kjson.SyntaxErrorOffset(err); ok {
		line := 1 + bytes.Count(data[:min(int(offset), len(data))], []byte("\n"))
		return fmt.Sprintf("line %d: %s", line, err.Error())
	}
	return err.Error()
}

// singleYAML splits the input on "---" document markers and converts the one
// non-empty document to JSON.
func singleYAML(data []byte) ([]byte, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var doc []byte
	line, docLine, documents := 1, 0, 0
	for {
		chunk, err := reader.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, &Error{Kind: ErrSyntax, Reason: err.Error()}
		}
		if !yamlIsBlank(chunk) {
			documents++
			if documents == 2 {
				return nil, &Error{Kind: ErrMultipleDocuments, Reason: fmt.Sprintf("a second YAML document starts near line %d; put one Pod per file", line)}
			}
			doc, docLine = chunk, line
		}
		line += bytes.Count(chunk, []byte("\n")) + 1
	}
	if documents == 0 {
		return nil, &Error{Kind: ErrEmpty, Reason: "the file holds no document (only blanks or comments)"}
	}
	out, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		reason := strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")
		if docLine > 1 {
			reason = fmt.Sprintf("%s (document begins at line %d)", reason, docLine)
		}
		return nil, &Error{Kind: ErrSyntax, Reason: reason}
	}
	return out, nil
}

// yamlIsBlank reports whether a YAML chunk holds only blank lines, comments
// and document markers.
func yamlIsBlank(chunk []byte) bool {
	for _, line := range bytes.Split(chunk, []byte("\n")) {
		l := bytes.TrimSpace(line)
		if len(l) == 0 || l[0] == '#' || bytes.Equal(l, []byte("---")) || bytes.Equal(l, []byte("...")) {
			continue
		}
		return false
	}
	return true
}

type typeMeta struct {
	APIVersion *string `json:"apiVersion"`
	Kind       *string `json:"kind"`
}

func decodePod(jsonData []byte) (*Document, error) {
	if bytes.Equal(bytes.TrimSpace(jsonData), []byte("null")) {
		return nil, &Error{Kind: ErrEmpty, Reason: "the document is empty"}
	}
	var generic map[string]json.RawMessage
	if err := json.Unmarshal(jsonData, &generic); err != nil {
		return nil, &Error{Kind: ErrNotPod, Reason: "the document is not an object"}
	}
	var tm typeMeta
	if err := json.Unmarshal(jsonData, &tm); err != nil {
		return nil, &Error{Kind: ErrNotPod, Reason: err.Error()}
	}
	switch {
	case tm.Kind == nil || *tm.Kind == "":
		return nil, &Error{Field: "kind", Kind: ErrNotPod, Reason: "required, must be Pod"}
	case *tm.Kind != "Pod":
		return nil, &Error{Field: "kind", Kind: ErrNotPod, Reason: fmt.Sprintf("%q is not Pod: staticPodPath holds one Pod per file", *tm.Kind)}
	case tm.APIVersion == nil || *tm.APIVersion == "":
		return nil, &Error{Field: "apiVersion", Kind: ErrNotPod, Reason: "required, must be v1"}
	case *tm.APIVersion != "v1":
		return nil, &Error{Field: "apiVersion", Kind: ErrNotPod, Reason: fmt.Sprintf("%q is not v1", *tm.APIVersion)}
	}
	pod := &corev1.Pod{}
	strictErrs, err := kjson.UnmarshalStrict(jsonData, pod, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return nil, &Error{Kind: ErrSchema, Reason: err.Error()}
	}
	doc := &Document{Pod: pod}
	for _, se := range strictErrs {
		msg := se.Error()
		if strings.Contains(msg, "duplicate field") {
			return nil, &Error{Kind: ErrSchema, Reason: msg}
		}
		doc.Warnings = append(doc.Warnings, msg+" (ignored)")
	}
	pod.Status = corev1.PodStatus{}
	doc.CanonicalJSON, err = canonicalJSON(jsonData)
	if err != nil {
		return nil, &Error{Kind: ErrSyntax, Reason: err.Error()}
	}
	return doc, nil
}

// canonicalJSON re-encodes a JSON object with sorted keys, numbers kept as
// written, and the status stanza dropped (the kubelet ignores it too).
func canonicalJSON(jsonData []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(jsonData))
	dec.UseNumber()
	var obj map[string]interface{}
	if err := dec.Decode(&obj); err != nil {
		return nil, fmt.Errorf("canonical form: %w", err)
	}
	delete(obj, "status")
	return json.Marshal(obj)
}

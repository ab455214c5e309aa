// Package source defines what every manifest source delivers: a Listing, a
// whole snapshot of the files (or URL bodies) the source holds right now,
// never a delta. The agent diffs listings itself, as the kubelet's config
// layer does. The package only holds types and a tiny mailbox; it does no IO.
// Sources live in subpackages (file: staticPodPath).
package source

// Package validation decides whether a defaulted static pod may run. It owns
// two rule sets and their error paths:
//
//   - the checks the Kubernetes API server runs when a pod is created
//     (ValidatePodCreate in k8s.io/kubernetes/pkg/apis/core/validation,
//     which cannot be imported), with the feature gates at their v1.37
//     defaults; the kubelet runs the same checks on every static pod;
//   - the static-pod restrictions of the kubelet and the NodeRestriction
//     admission plugin: a static pod may not reference API objects
//     (service accounts, secrets, config maps, claims, CSI drivers...).
//
// ValidatePod applies both and returns every problem at once, each a
// *field.Error whose path is rooted at the object (metadata..., spec...).
// Input is a pod after the agent's defaulting (package pod); fields that
// defaulting always sets are reported as Required when missing.
// ValidateStartAfter checks staticlet's own staticlet.dev/start-after
// annotation apart, as it needs the manifest's name before the node suffix.
//
// It does no IO: no files, no network, no clock, no randomness.
//
// Deliberate differences from the API server:
//   - stricter: regular containers may not set restartPolicy or
//     restartPolicyRules, and init containers only restartPolicy Always (the
//     beta ContainerRestartRules gate is not implemented by the agent);
//     emptyDir.medium must be "", Memory, HugePages or HugePages-<size>;
//     workingDir must be absolute (except on Windows); a named port in a
//     probe or lifecycle handler must be one of the container's ports; a
//     built-in priority class (system-node-critical, system-cluster-critical)
//     must not come with a different spec.priority;
//   - paths always carry list indexes and map keys where the API server drops
//     them (volumeMounts[i].subPath, downwardAPI.items[i],
//     resources.requests[name], metadata.annotations[key]...);
//   - fewer duplicate errors: resource claims and ephemeral containers get
//     one Forbidden instead of their structural checks, a projected service
//     account token gets the static-pod Forbidden instead of "needs
//     serviceAccountName", and a volume with errors still counts as declared
//     for volumeMounts;
//   - not modelled: checks that need cluster state or the cluster's flags
//     (admission plugins, --allow-privileged: privileged containers are
//     accepted, as the kubelet does), alpha fields (schedulingGroup,
//     evictionResponders are not checked; toleration operators Lt/Gt are
//     refused, as with the gate off), the API server's merge of
//     matchLabelKeys into labelSelector, and the detailed name and signer
//     checks of clusterTrustBundle and podCertificate sources.
package validation

# Gatekeeper-style policy: sharing the host's PID or IPC namespace is not
# allowed, nor the host network unless the parameters allow it
# (allowHostNetwork). Written for staticlet's tests in the manner of the
# Gatekeeper library's pod-security templates.
package k8spsphostnamespace

violation contains {"msg": msg, "details": {}} if {
	some field in ["hostPID", "hostIPC"]
	input.review.object.spec[field]
	msg := sprintf("Sharing the host namespace is not allowed: %v (%v)", [input.review.object.metadata.name, field])
}

violation contains {"msg": msg, "details": {}} if {
	input.review.object.spec.hostNetwork
	not object.get(input.parameters, "allowHostNetwork", false)
	msg := concat("", ["Sharing the host network is not allowed: ", input.review.object.metadata.name])
}

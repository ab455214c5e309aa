# Gatekeeper-style policy: privileged containers are not allowed, except for
# images the constraint's parameters exempt (exemptImages, a trailing * is a
# prefix match). Written for staticlet's tests in the manner of the
# Gatekeeper library's pod-security templates; input is Gatekeeper's
# (input.review.object, input.parameters).
package k8spspprivileged

import data.lib.exempt_container.is_exempt

violation contains {"msg": msg, "details": {}} if {
	c := input_containers[_]
	not is_exempt(c)
	c.securityContext.privileged
	msg := sprintf("Privileged container is not allowed: %v, securityContext: %v", [c.name, c.securityContext])
}

input_containers contains c if {
	c := input.review.object.spec.containers[_]
}

input_containers contains c if {
	c := input.review.object.spec.initContainers[_]
}

input_containers contains c if {
	c := input.review.object.spec.ephemeralContainers[_]
}

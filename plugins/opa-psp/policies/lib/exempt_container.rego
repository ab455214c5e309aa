# Exempt images, as the Gatekeeper library's pod-security templates share
# them: parameters.exemptImages lists images; one ending in * is a prefix.
package lib.exempt_container

is_exempt(container) if {
	exempt_images := object.get(object.get(input, "parameters", {}), "exemptImages", [])
	img := container.image
	exemption := exempt_images[_]
	_matches_exemption(img, exemption)
}

_matches_exemption(img, exemption) if {
	not endswith(exemption, "*")
	exemption == img
}

_matches_exemption(img, exemption) if {
	endswith(exemption, "*")
	prefix := trim_suffix(exemption, "*")
	startswith(img, prefix)
}

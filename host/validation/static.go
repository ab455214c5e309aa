package validation

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateStaticPodRestrictions returns a field.Forbidden for every reference
// to an API object in pod. A static pod runs before, and without, the API
// server, so it cannot use service accounts, secrets, config maps, claims,
// CSI drivers or anything else the kubelet would have to fetch; the kubelet
// refuses such manifests and the NodeRestriction admission plugin refuses
// their mirror pods. Ephemeral containers are refused too: they are only
// ever added through the API. ValidatePod includes these errors.
func ValidateStaticPodRestrictions(pod *corev1.Pod) field.ErrorList {
	if pod == nil {
		return nil
	}
	spec := &pod.Spec
	specPath := field.NewPath("spec")
	var errs field.ErrorList

	if spec.ServiceAccountName != "" {
		errs = append(errs, forbidReference(specPath.Child("serviceAccountName"), "serviceaccounts"))
	}
	// The deprecated alias names a service account too; when defaulting has
	// synced it with serviceAccountName, one error is enough.
	//nolint:staticcheck // reading the deprecated field is the point
	if sa := spec.DeprecatedServiceAccount; sa != "" && sa != spec.ServiceAccountName {
		errs = append(errs, forbidReference(specPath.Child("serviceAccount"), "serviceaccounts"))
	}
	if len(spec.ImagePullSecrets) > 0 {
		errs = append(errs, forbidReference(specPath.Child("imagePullSecrets"), "secrets"))
	}
	if len(spec.ResourceClaims) > 0 {
		errs = append(errs, forbidReference(specPath.Child("resourceClaims"), "resourceclaims"))
	}
	if spec.Resources != nil && len(spec.Resources.Claims) > 0 {
		errs = append(errs, forbidReference(specPath.Child("resources", "claims"), "resourceclaims"))
	}
	if len(spec.EphemeralContainers) > 0 {
		errs = append(errs, field.Forbidden(specPath.Child("ephemeralContainers"), "static pods cannot have ephemeral containers; they are only added through the API"))
	}
	visitContainers(spec, specPath, func(c *corev1.Container, cPath *field.Path) {
		errs = append(errs, containerReferences(c, cPath)...)
	})
	volumesPath := specPath.Child("volumes")
	for i := range spec.Volumes {
		errs = append(errs, volumeReferences(&spec.Volumes[i].VolumeSource, volumesPath.Index(i))...)
	}
	return errs
}

// forbidReference names the kind of object in the kubelet's terms (its own
// error reads "static pods may not reference secrets"), so the two line up.
func forbidReference(fldPath *field.Path, resource string) *field.Error {
	return field.Forbidden(fldPath, "static pods cannot reference API objects ("+resource+")")
}

func containerReferences(c *corev1.Container, cPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for j := range c.Env {
		from := c.Env[j].ValueFrom
		if from == nil || (from.SecretKeyRef == nil && from.ConfigMapKeyRef == nil) {
			continue
		}
		fromPath := cPath.Child("env").Index(j).Child("valueFrom")
		if from.SecretKeyRef != nil {
			errs = append(errs, forbidReference(fromPath.Child("secretKeyRef"), "secrets"))
		}
		if from.ConfigMapKeyRef != nil {
			errs = append(errs, forbidReference(fromPath.Child("configMapKeyRef"), "configmaps"))
		}
	}
	for j := range c.EnvFrom {
		source := &c.EnvFrom[j]
		sourcePath := cPath.Child("envFrom").Index(j)
		if source.SecretRef != nil {
			errs = append(errs, forbidReference(sourcePath.Child("secretRef"), "secrets"))
		}
		if source.ConfigMapRef != nil {
			errs = append(errs, forbidReference(sourcePath.Child("configMapRef"), "configmaps"))
		}
	}
	if len(c.Resources.Claims) > 0 {
		errs = append(errs, forbidReference(cPath.Child("resources", "claims"), "resourceclaims"))
	}
	return errs
}

func volumeReferences(src *corev1.VolumeSource, vPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	// Paths are built only for errors: most volumes reference nothing.
	forbid := func(isSet bool, base *field.Path, resource string, names ...string) {
		if isSet {
			errs = append(errs, forbidReference(base.Child(names[0], names[1:]...), resource))
		}
	}
	forbid(src.Secret != nil, vPath, "secrets", "secret")
	forbid(src.ConfigMap != nil, vPath, "configmaps", "configMap")
	forbid(src.PersistentVolumeClaim != nil, vPath, "persistentvolumeclaims", "persistentVolumeClaim")
	forbid(src.Ephemeral != nil, vPath, "persistentvolumeclaims (via ephemeral volumes)", "ephemeral")
	forbid(src.CSI != nil, vPath, "csidrivers (via CSI volumes)", "csi")
	forbid(src.Glusterfs != nil, vPath, "endpoints (via glusterFS volumes)", "glusterfs")
	forbid(src.AzureFile != nil, vPath, "secrets (via azureFile volumes)", "azureFile")
	// In-tree volume plugins that log in with a secret.
	forbid(src.CephFS != nil && src.CephFS.SecretRef != nil, vPath, "secrets", "cephfs", "secretRef")
	forbid(src.Cinder != nil && src.Cinder.SecretRef != nil, vPath, "secrets", "cinder", "secretRef")
	forbid(src.FlexVolume != nil && src.FlexVolume.SecretRef != nil, vPath, "secrets", "flexVolume", "secretRef")
	forbid(src.RBD != nil && src.RBD.SecretRef != nil, vPath, "secrets", "rbd", "secretRef")
	forbid(src.ScaleIO != nil && src.ScaleIO.SecretRef != nil, vPath, "secrets", "scaleIO", "secretRef")
	forbid(src.ISCSI != nil && src.ISCSI.SecretRef != nil, vPath, "secrets", "iscsi", "secretRef")
	forbid(src.StorageOS != nil && src.StorageOS.SecretRef != nil, vPath, "secrets", "storageos", "secretRef")
	if src.Projected != nil {
		for j := range src.Projected.Sources {
			s := &src.Projected.Sources[j]
			sPath := vPath.Child("projected", "sources").Index(j)
			// downwardAPI is the one projection the kubelet serves by itself.
			forbid(s.Secret != nil, sPath, "secrets (via projected volumes)", "secret")
			forbid(s.ConfigMap != nil, sPath, "configmaps (via projected volumes)", "configMap")
			forbid(s.ServiceAccountToken != nil, sPath, "serviceaccounts (via projected volumes)", "serviceAccountToken")
			forbid(s.ClusterTrustBundle != nil, sPath, "clustertrustbundles", "clusterTrustBundle")
			forbid(s.PodCertificate != nil, sPath, "podcertificates", "podCertificate")
		}
	}
	return errs
}

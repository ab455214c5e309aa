package validation

import (
	"path"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	hostPathTypes = []corev1.HostPathType{corev1.HostPathUnset, corev1.HostPathBlockDev, corev1.HostPathCharDev,
		corev1.HostPathDirectory, corev1.HostPathDirectoryOrCreate, corev1.HostPathFile, corev1.HostPathFileOrCreate, corev1.HostPathSocket}
	storageMedia       = []corev1.StorageMedium{corev1.StorageMediumDefault, corev1.StorageMediumHugePages, corev1.StorageMediumHugePagesPrefix + "<size>", corev1.StorageMediumMemory}
	azureCachingModes  = []corev1.AzureDataDiskCachingMode{corev1.AzureDataDiskCachingNone, corev1.AzureDataDiskCachingReadOnly, corev1.AzureDataDiskCachingReadWrite}
	azureDiskKinds     = []corev1.AzureDataDiskKind{corev1.AzureDedicatedBlobDisk, corev1.AzureManagedDisk, corev1.AzureSharedBlobDisk}
	podCertificateKeys = []string{"ECDSAP256", "ECDSAP384", "ECDSAP521", "ED25519", "RSA3072", "RSA4096"}

	iscsiIQN = regexp.MustCompile(`iqn\.\d{4}-\d{2}\.([[:alnum:]-.]+)(:[^,;*&$|\s]+)$`)
	iscsiEUI = regexp.MustCompile(`^eui.[[:alnum:]]{16}$`)
	iscsiNAA = regexp.MustCompile(`^naa.[[:alnum:]]{32}$`)
)

// validateVolumes checks spec.volumes and returns the declared volumes by
// name for the containers' mounts to refer to.
func validateVolumes(volumes []corev1.Volume, fldPath *field.Path) (map[string]*corev1.VolumeSource, field.ErrorList) {
	var errs field.ErrorList
	byName := make(map[string]*corev1.VolumeSource, len(volumes))
	for i := range volumes {
		v := &volumes[i]
		vPath := fldPath.Index(i)
		namePath := vPath.Child("name")
		errs = append(errs, validateVolumeSource(&v.VolumeSource, v.Name, vPath)...)
		if v.Name == "" {
			errs = append(errs, field.Required(namePath, ""))
			continue
		}
		errs = append(errs, validateDNSLabel(v.Name, namePath)...)
		if _, dup := byName[v.Name]; dup {
			errs = append(errs, field.Duplicate(namePath, v.Name))
			continue
		}
		// Unlike the API server, a volume with errors still counts as
		// declared, so its mounts do not add "not found" noise.
		byName[v.Name] = &v.VolumeSource
	}
	return byName, errs
}

// validateVolumeSource: exactly one source, each checked for its required
// fields. Sources that reference API objects are also refused by
// ValidateStaticPodRestrictions.
func validateVolumeSource(src *corev1.VolumeSource, volumeName string, fldPath *field.Path) field.ErrorList {
	u := oneOf{base: fldPath, detail: detailMoreThanOneVol}
	u.member(src.EmptyDir != nil, "emptyDir", func(p *field.Path) field.ErrorList { return validateEmptyDir(src.EmptyDir, p) })
	u.member(src.HostPath != nil, "hostPath", func(p *field.Path) field.ErrorList { return validateHostPath(src.HostPath, p) })
	u.member(src.GitRepo != nil, "gitRepo", func(p *field.Path) field.ErrorList {
		errs := requireString(src.GitRepo.Repository, p.Child("repository"))
		return append(errs, validateLocalDescendingPath(src.GitRepo.Directory, p.Child("directory"))...)
	})
	u.member(src.GCEPersistentDisk != nil, "gcePersistentDisk", func(p *field.Path) field.ErrorList {
		errs := requireString(src.GCEPersistentDisk.PDName, p.Child("pdName"))
		return append(errs, validatePartition(src.GCEPersistentDisk.Partition, p.Child("partition"))...)
	})
	u.member(src.AWSElasticBlockStore != nil, "awsElasticBlockStore", func(p *field.Path) field.ErrorList {
		errs := requireString(src.AWSElasticBlockStore.VolumeID, p.Child("volumeID"))
		return append(errs, validatePartition(src.AWSElasticBlockStore.Partition, p.Child("partition"))...)
	})
	u.member(src.Secret != nil, "secret", func(p *field.Path) field.ErrorList {
		errs := requireString(src.Secret.SecretName, p.Child("secretName"))
		errs = append(errs, validateFileMode(src.Secret.DefaultMode, p.Child("defaultMode"))...)
		errs = append(errs, validateUserID(src.Secret.DefaultUser, p.Child("defaultUser"))...)
		return append(errs, validateKeyToPaths(src.Secret.Items, p.Child("items"))...)
	})
	u.member(src.NFS != nil, "nfs", func(p *field.Path) field.ErrorList {
		errs := requireString(src.NFS.Server, p.Child("server"))
		errs = append(errs, requireString(src.NFS.Path, p.Child("path"))...)
		if !path.IsAbs(src.NFS.Path) {
			errs = append(errs, field.Invalid(p.Child("path"), src.NFS.Path, "must be an absolute path"))
		}
		return errs
	})
	u.member(src.ISCSI != nil, "iscsi", func(p *field.Path) field.ErrorList { return validateISCSI(src.ISCSI, volumeName, p) })
	u.member(src.Glusterfs != nil, "glusterfs", func(p *field.Path) field.ErrorList {
		errs := requireString(src.Glusterfs.EndpointsName, p.Child("endpoints"))
		return append(errs, requireString(src.Glusterfs.Path, p.Child("path"))...)
	})
	u.member(src.PersistentVolumeClaim != nil, "persistentVolumeClaim", func(p *field.Path) field.ErrorList {
		return requireString(src.PersistentVolumeClaim.ClaimName, p.Child("claimName"))
	})
	u.member(src.RBD != nil, "rbd", func(p *field.Path) field.ErrorList {
		var errs field.ErrorList
		if len(src.RBD.CephMonitors) == 0 {
			errs = append(errs, field.Required(p.Child("monitors"), ""))
		}
		return append(errs, requireString(src.RBD.RBDImage, p.Child("image"))...)
	})
	u.member(src.FlexVolume != nil, "flexVolume", func(p *field.Path) field.ErrorList { return validateFlexVolume(src.FlexVolume, p) })
	u.member(src.Cinder != nil, "cinder", func(p *field.Path) field.ErrorList {
		errs := requireString(src.Cinder.VolumeID, p.Child("volumeID"))
		if src.Cinder.SecretRef != nil {
			errs = append(errs, requireString(src.Cinder.SecretRef.Name, p.Child("secretRef", "name"))...)
		}
		return errs
	})
	u.member(src.CephFS != nil, "cephfs", func(p *field.Path) field.ErrorList {
		if len(src.CephFS.Monitors) == 0 {
			return field.ErrorList{field.Required(p.Child("monitors"), "")}
		}
		return nil
	})
	u.member(src.Flocker != nil, "flocker", func(p *field.Path) field.ErrorList { return validateFlocker(src.Flocker, p) })
	u.member(src.DownwardAPI != nil, "downwardAPI", func(p *field.Path) field.ErrorList {
		errs := validateFileMode(src.DownwardAPI.DefaultMode, p.Child("defaultMode"))
		errs = append(errs, validateUserID(src.DownwardAPI.DefaultUser, p.Child("defaultUser"))...)
		for i := range src.DownwardAPI.Items {
			errs = append(errs, validateDownwardAPIFile(&src.DownwardAPI.Items[i], p.Child("items").Index(i))...)
		}
		return errs
	})
	u.member(src.FC != nil, "fc", func(p *field.Path) field.ErrorList { return validateFC(src.FC, p) })
	u.member(src.AzureFile != nil, "azureFile", func(p *field.Path) field.ErrorList {
		errs := requireString(src.AzureFile.SecretName, p.Child("secretName"))
		return append(errs, requireString(src.AzureFile.ShareName, p.Child("shareName"))...)
	})
	u.member(src.ConfigMap != nil, "configMap", func(p *field.Path) field.ErrorList {
		errs := requireString(src.ConfigMap.Name, p.Child("name"))
		errs = append(errs, validateFileMode(src.ConfigMap.DefaultMode, p.Child("defaultMode"))...)
		errs = append(errs, validateUserID(src.ConfigMap.DefaultUser, p.Child("defaultUser"))...)
		return append(errs, validateKeyToPaths(src.ConfigMap.Items, p.Child("items"))...)
	})
	u.member(src.VsphereVolume != nil, "vsphereVolume", func(p *field.Path) field.ErrorList {
		return requireString(src.VsphereVolume.VolumePath, p.Child("volumePath"))
	})
	u.member(src.Quobyte != nil, "quobyte", func(p *field.Path) field.ErrorList { return validateQuobyte(src.Quobyte, p) })
	u.member(src.AzureDisk != nil, "azureDisk", func(p *field.Path) field.ErrorList { return validateAzureDisk(src.AzureDisk, p) })
	u.member(src.PhotonPersistentDisk != nil, "photonPersistentDisk", func(p *field.Path) field.ErrorList {
		return requireString(src.PhotonPersistentDisk.PdID, p.Child("pdID"))
	})
	u.member(src.Projected != nil, "projected", func(p *field.Path) field.ErrorList { return validateProjected(src.Projected, p) })
	u.member(src.PortworxVolume != nil, "portworxVolume", func(p *field.Path) field.ErrorList {
		return requireString(src.PortworxVolume.VolumeID, p.Child("volumeID"))
	})
	u.member(src.ScaleIO != nil, "scaleIO", func(p *field.Path) field.ErrorList {
		errs := requireString(src.ScaleIO.Gateway, p.Child("gateway"))
		errs = append(errs, requireString(src.ScaleIO.System, p.Child("system"))...)
		return append(errs, requireString(src.ScaleIO.VolumeName, p.Child("volumeName"))...)
	})
	u.member(src.StorageOS != nil, "storageos", func(p *field.Path) field.ErrorList { return validateStorageOS(src.StorageOS, p) })
	u.member(src.CSI != nil, "csi", func(p *field.Path) field.ErrorList { return validateCSI(src.CSI, p) })
	u.member(src.Ephemeral != nil, "ephemeral", func(p *field.Path) field.ErrorList {
		if src.Ephemeral.VolumeClaimTemplate == nil {
			return field.ErrorList{field.Required(p.Child("volumeClaimTemplate"), "")}
		}
		return nil
	})
	u.member(src.Image != nil, "image", func(p *field.Path) field.ErrorList {
		errs := requireString(src.Image.Reference, p.Child("reference"))
		switch src.Image.PullPolicy {
		case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
		case "":
			errs = append(errs, field.Required(p.Child("pullPolicy"), ""))
		default:
			errs = append(errs, field.NotSupported(p.Child("pullPolicy"), src.Image.PullPolicy, pullPolicies))
		}
		return errs
	})
	if u.set == 0 {
		u.errs = append(u.errs, field.Required(fldPath, "must specify a volume type"))
	}
	return u.errs
}

func requireString(value string, fldPath *field.Path) field.ErrorList {
	if value == "" {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	return nil
}

func validatePartition(partition int32, fldPath *field.Path) field.ErrorList {
	if partition < 0 || partition > 255 {
		return field.ErrorList{field.Invalid(fldPath, partition, validation.InclusiveRangeError(1, 255))}
	}
	return nil
}

// validateEmptyDir. Stricter than the API server, which accepts any medium
// and leaves unknown ones to fail at mount time.
func validateEmptyDir(dir *corev1.EmptyDirVolumeSource, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch m := dir.Medium; {
	case m == corev1.StorageMediumDefault, m == corev1.StorageMediumMemory, m == corev1.StorageMediumHugePages:
	case strings.HasPrefix(string(m), string(corev1.StorageMediumHugePagesPrefix)):
		if _, err := resource.ParseQuantity(strings.TrimPrefix(string(m), string(corev1.StorageMediumHugePagesPrefix))); err != nil {
			errs = append(errs, field.NotSupported(fldPath.Child("medium"), m, storageMedia))
		}
	default:
		errs = append(errs, field.NotSupported(fldPath.Child("medium"), m, storageMedia))
	}
	if dir.SizeLimit != nil && dir.SizeLimit.Sign() < 0 {
		errs = append(errs, field.Forbidden(fldPath.Child("sizeLimit"), "SizeLimit field must be a valid resource quantity"))
	}
	if dir.Mode != nil && (*dir.Mode < 0 || *dir.Mode > 0o1777) {
		errs = append(errs, field.Invalid(fldPath.Child("mode"), *dir.Mode, detailEmptyDirMode))
	}
	return errs
}

// validateHostPath: a path without ".." elements and a known type (the
// defaulting sets "" when unset). Like the API server, the path need not be
// absolute.
func validateHostPath(hp *corev1.HostPathVolumeSource, fldPath *field.Path) field.ErrorList {
	if hp.Path == "" {
		return field.ErrorList{field.Required(fldPath.Child("path"), "")}
	}
	errs := validatePathNoBacksteps(hp.Path, fldPath.Child("path"))
	if hp.Type != nil {
		switch *hp.Type {
		case corev1.HostPathUnset, corev1.HostPathDirectoryOrCreate, corev1.HostPathDirectory, corev1.HostPathFileOrCreate,
			corev1.HostPathFile, corev1.HostPathSocket, corev1.HostPathCharDev, corev1.HostPathBlockDev:
		default:
			errs = append(errs, field.NotSupported(fldPath.Child("type"), *hp.Type, hostPathTypes))
		}
	}
	return errs
}

func validateKeyToPaths(items []corev1.KeyToPath, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i := range items {
		item := &items[i]
		itemPath := fldPath.Index(i)
		errs = append(errs, requireString(item.Key, itemPath.Child("key"))...)
		errs = append(errs, requireString(item.Path, itemPath.Child("path"))...)
		errs = append(errs, validateLocalNonReservedPath(item.Path, itemPath.Child("path"))...)
		errs = append(errs, validateFileMode(item.Mode, itemPath.Child("mode"))...)
		errs = append(errs, validateUserID(item.User, itemPath.Child("user"))...)
	}
	return errs
}

func validateDownwardAPIFile(file *corev1.DownwardAPIVolumeFile, fldPath *field.Path) field.ErrorList {
	errs := requireString(file.Path, fldPath.Child("path"))
	errs = append(errs, validateLocalNonReservedPath(file.Path, fldPath.Child("path"))...)
	switch {
	case file.FieldRef != nil:
		errs = append(errs, validateObjectFieldSelector(file.FieldRef, volumeFieldPaths, fldPath.Child("fieldRef"))...)
		if file.ResourceFieldRef != nil {
			errs = append(errs, field.Invalid(fldPath, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
		}
	case file.ResourceFieldRef != nil:
		errs = append(errs, validateResourceFieldSelector(file.ResourceFieldRef, true, fldPath.Child("resourceFieldRef"))...)
	default:
		errs = append(errs, field.Required(fldPath, "one of fieldRef and resourceFieldRef is required"))
	}
	errs = append(errs, validateFileMode(file.Mode, fldPath.Child("mode"))...)
	return append(errs, validateUserID(file.User, fldPath.Child("user"))...)
}

// validateProjected checks a projected volume's sources: one kind per
// source and no file path twice. Only downwardAPI sources are allowed in a
// static pod; ValidateStaticPodRestrictions refuses the others, whose shape
// is checked here only for name and path basics.
func validateProjected(projected *corev1.ProjectedVolumeSource, fldPath *field.Path) field.ErrorList {
	errs := validateFileMode(projected.DefaultMode, fldPath.Child("defaultMode"))
	errs = append(errs, validateUserID(projected.DefaultUser, fldPath.Child("defaultUser"))...)
	paths := map[string]struct{}{}
	claimPath := func(p string) {
		if p == "" {
			return
		}
		if _, dup := paths[p]; dup {
			errs = append(errs, field.Invalid(fldPath, p, "conflicting duplicate paths"))
			return
		}
		paths[p] = struct{}{}
	}
	for i := range projected.Sources {
		source := &projected.Sources[i]
		sourcePath := fldPath.Child("sources").Index(i)
		kinds := 0
		if s := source.Secret; s != nil {
			kinds++
			errs = append(errs, requireString(s.Name, sourcePath.Child("secret", "name"))...)
			errs = append(errs, validateKeyToPaths(s.Items, sourcePath.Child("secret", "items"))...)
			for _, item := range s.Items {
				claimPath(item.Path)
			}
		}
		if s := source.ConfigMap; s != nil {
			kinds++
			errs = append(errs, requireString(s.Name, sourcePath.Child("configMap", "name"))...)
			errs = append(errs, validateKeyToPaths(s.Items, sourcePath.Child("configMap", "items"))...)
			for _, item := range s.Items {
				claimPath(item.Path)
			}
		}
		if s := source.DownwardAPI; s != nil {
			kinds++
			for j := range s.Items {
				errs = append(errs, validateDownwardAPIFile(&s.Items[j], sourcePath.Child("downwardAPI", "items").Index(j))...)
				claimPath(s.Items[j].Path)
			}
		}
		if s := source.ServiceAccountToken; s != nil {
			kinds++
			tokenPath := sourcePath.Child("serviceAccountToken")
			if s.ExpirationSeconds == nil {
				errs = append(errs, field.Required(tokenPath.Child("expirationSeconds"), ""))
			} else if exp := *s.ExpirationSeconds; exp < 10*60 {
				errs = append(errs, field.Invalid(tokenPath.Child("expirationSeconds"), exp, "may not specify a duration less than 10 minutes"))
			} else if exp > 1<<32 {
				errs = append(errs, field.Invalid(tokenPath.Child("expirationSeconds"), exp, "may not specify a duration larger than 2^32 seconds"))
			}
			if s.Path == "" {
				errs = append(errs, field.Required(tokenPath.Child("path"), ""))
			} else {
				errs = append(errs, validateLocalNonReservedPath(s.Path, tokenPath.Child("path"))...)
			}
			errs = append(errs, validateUserID(s.User, tokenPath.Child("user"))...)
			claimPath(s.Path)
		}
		if s := source.ClusterTrustBundle; s != nil {
			kinds++
			bundlePath := sourcePath.Child("clusterTrustBundle")
			switch {
			case s.Name != nil && s.SignerName != nil:
				errs = append(errs, field.Invalid(bundlePath, "name, signerName", "only one of name and signerName may be used"))
			case s.Name == nil && s.SignerName == nil:
				errs = append(errs, field.Required(bundlePath, "either name or signerName must be specified"))
			}
			errs = append(errs, requireString(s.Path, bundlePath.Child("path"))...)
			errs = append(errs, validateLocalNonReservedPath(s.Path, bundlePath.Child("path"))...)
			errs = append(errs, validateUserID(s.User, bundlePath.Child("user"))...)
			claimPath(s.Path)
		}
		if s := source.PodCertificate; s != nil {
			kinds++
			certPath := sourcePath.Child("podCertificate")
			errs = append(errs, requireString(s.SignerName, certPath.Child("signerName"))...)
			switch s.KeyType {
			case "RSA3072", "RSA4096", "ECDSAP256", "ECDSAP384", "ECDSAP521", "ED25519":
			default:
				errs = append(errs, field.NotSupported(certPath.Child("keyType"), s.KeyType, podCertificateKeys))
			}
			if s.CredentialBundlePath == "" && s.KeyPath == "" && s.CertificateChainPath == "" {
				errs = append(errs, field.Required(certPath, "specify at least one of credentialBundlePath, keyPath, and certificateChainPath"))
			}
			for _, file := range []struct{ name, value string }{
				{"credentialBundlePath", s.CredentialBundlePath}, {"keyPath", s.KeyPath}, {"certificateChainPath", s.CertificateChainPath},
			} {
				if file.value != "" {
					errs = append(errs, validateLocalNonReservedPath(file.value, certPath.Child(file.name))...)
					claimPath(file.value)
				}
			}
		}
		if kinds > 1 {
			errs = append(errs, field.Forbidden(sourcePath, "may not specify more than 1 volume type per source"))
		}
	}
	return errs
}

func validateISCSI(iscsi *corev1.ISCSIVolumeSource, volumeName string, fldPath *field.Path) field.ErrorList {
	errs := requireString(iscsi.TargetPortal, fldPath.Child("targetPortal"))
	if iscsi.IQN == "" {
		errs = append(errs, field.Required(fldPath.Child("iqn"), ""))
	} else if msg := iscsiNameProblem(iscsi.IQN); msg != "" {
		errs = append(errs, field.Invalid(fldPath.Child("iqn"), iscsi.IQN, msg))
	}
	if iscsi.Lun < 0 || iscsi.Lun > 255 {
		errs = append(errs, field.Invalid(fldPath.Child("lun"), iscsi.Lun, validation.InclusiveRangeError(0, 255)))
	}
	if (iscsi.DiscoveryCHAPAuth || iscsi.SessionCHAPAuth) && iscsi.SecretRef == nil {
		errs = append(errs, field.Required(fldPath.Child("secretRef"), ""))
	}
	if iscsi.InitiatorName != nil {
		if msg := iscsiNameProblem(*iscsi.InitiatorName); msg != "" {
			errs = append(errs, field.Invalid(fldPath.Child("initiatorName"), *iscsi.InitiatorName, msg))
		}
		if len(volumeName+":"+iscsi.TargetPortal) > 64 {
			errs = append(errs, field.Invalid(fldPath.Child("targetPortal"), iscsi.TargetPortal,
				"Total length of <volume name>:<iscsi.targetPortal> must be under 64 characters if iscsi.initiatorName is specified."))
		}
	}
	return errs
}

// iscsiNameProblem checks an iSCSI qualified name (iqn., eui. or naa.).
func iscsiNameProblem(name string) string {
	switch {
	case strings.HasPrefix(name, "iqn"):
		if !iscsiIQN.MatchString(name) {
			return "must be valid format"
		}
	case strings.HasPrefix(name, "eui"):
		if !iscsiEUI.MatchString(name) {
			return "must be valid format"
		}
	case strings.HasPrefix(name, "naa"):
		if !iscsiNAA.MatchString(name) {
			return "must be valid format"
		}
	default:
		return "must be valid format starting with iqn, eui, or naa"
	}
	return ""
}

func validateFC(fc *corev1.FCVolumeSource, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(fc.TargetWWNs) == 0 && len(fc.WWIDs) == 0 {
		errs = append(errs, field.Required(fldPath.Child("targetWWNs"), "must specify either targetWWNs or wwids, but not both"))
	}
	if len(fc.TargetWWNs) != 0 && len(fc.WWIDs) != 0 {
		errs = append(errs, field.Invalid(fldPath.Child("targetWWNs"), fc.TargetWWNs, "targetWWNs and wwids can not be specified simultaneously"))
	}
	if len(fc.TargetWWNs) != 0 {
		if fc.Lun == nil {
			errs = append(errs, field.Required(fldPath.Child("lun"), "lun is required if targetWWNs is specified"))
		} else if *fc.Lun < 0 || *fc.Lun > 255 {
			errs = append(errs, field.Invalid(fldPath.Child("lun"), *fc.Lun, validation.InclusiveRangeError(0, 255)))
		}
	}
	return errs
}

func validateFlexVolume(fv *corev1.FlexVolumeSource, fldPath *field.Path) field.ErrorList {
	errs := requireString(fv.Driver, fldPath.Child("driver"))
	for key := range fv.Options {
		namespace := key
		if prefix, _, found := strings.Cut(key, "/"); found {
			namespace = prefix
		}
		normalized := "." + strings.ToLower(namespace)
		if strings.HasSuffix(normalized, ".kubernetes.io") || strings.HasSuffix(normalized, ".k8s.io") {
			errs = append(errs, field.Invalid(fldPath.Child("options").Key(key), key, "kubernetes.io and k8s.io namespaces are reserved"))
		}
	}
	return errs
}

func validateFlocker(flocker *corev1.FlockerVolumeSource, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if flocker.DatasetName == "" && flocker.DatasetUUID == "" {
		errs = append(errs, field.Required(fldPath, "one of datasetName and datasetUUID is required"))
	}
	if flocker.DatasetName != "" && flocker.DatasetUUID != "" {
		errs = append(errs, field.Invalid(fldPath, "resource", "datasetName and datasetUUID can not be specified simultaneously"))
	}
	if strings.Contains(flocker.DatasetName, "/") {
		errs = append(errs, field.Invalid(fldPath.Child("datasetName"), flocker.DatasetName, "must not contain '/'"))
	}
	return errs
}

func validateQuobyte(q *corev1.QuobyteVolumeSource, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	const registryDetail = "must be a host:port pair or multiple pairs separated by commas"
	switch {
	case q.Registry == "":
		errs = append(errs, field.Required(fldPath.Child("registry"), registryDetail))
	case len(q.Tenant) >= 65:
		errs = append(errs, field.Required(fldPath.Child("tenant"), "must be a UUID and may not exceed a length of 64 characters"))
	default:
		for _, hostPort := range strings.Split(q.Registry, ",") {
			if !isHostPort(hostPort) {
				errs = append(errs, field.Invalid(fldPath.Child("registry"), q.Registry, registryDetail))
			}
		}
	}
	return append(errs, requireString(q.Volume, fldPath.Child("volume"))...)
}

func validateAzureDisk(disk *corev1.AzureDiskVolumeSource, fldPath *field.Path) field.ErrorList {
	errs := requireString(disk.DiskName, fldPath.Child("diskName"))
	errs = append(errs, requireString(disk.DataDiskURI, fldPath.Child("diskURI"))...)
	if m := disk.CachingMode; m != nil && *m != corev1.AzureDataDiskCachingNone && *m != corev1.AzureDataDiskCachingReadOnly && *m != corev1.AzureDataDiskCachingReadWrite {
		errs = append(errs, field.NotSupported(fldPath.Child("cachingMode"), *m, azureCachingModes))
	}
	if k := disk.Kind; k != nil {
		switch *k {
		case corev1.AzureManagedDisk:
			if !strings.HasPrefix(disk.DataDiskURI, "/subscriptions/") {
				errs = append(errs, field.NotSupported(fldPath.Child("diskURI"), disk.DataDiskURI,
					[]string{"/subscriptions/{sub-id}/resourcegroups/{group-name}/providers/microsoft.compute/disks/{disk-id}"}))
			}
		case corev1.AzureSharedBlobDisk, corev1.AzureDedicatedBlobDisk:
			if !strings.HasPrefix(disk.DataDiskURI, "https://") {
				errs = append(errs, field.NotSupported(fldPath.Child("diskURI"), disk.DataDiskURI,
					[]string{"https://{account-name}.blob.core.windows.net/{container-name}/{disk-name}.vhd"}))
			}
		default:
			errs = append(errs, field.NotSupported(fldPath.Child("kind"), *k, azureDiskKinds))
		}
	}
	return errs
}

func validateStorageOS(s *corev1.StorageOSVolumeSource, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.VolumeName == "" {
		errs = append(errs, field.Required(fldPath.Child("volumeName"), ""))
	} else {
		errs = append(errs, validateDNSLabel(s.VolumeName, fldPath.Child("volumeName"))...)
	}
	if s.VolumeNamespace != "" {
		errs = append(errs, validateDNSLabel(s.VolumeNamespace, fldPath.Child("volumeNamespace"))...)
	}
	if s.SecretRef != nil {
		errs = append(errs, requireString(s.SecretRef.Name, fldPath.Child("secretRef", "name"))...)
	}
	return errs
}

func validateCSI(csi *corev1.CSIVolumeSource, fldPath *field.Path) field.ErrorList {
	driverPath := fldPath.Child("driver")
	var errs field.ErrorList
	if csi.Driver == "" {
		errs = append(errs, field.Required(driverPath, ""))
	} else {
		if len(csi.Driver) > 63 {
			errs = append(errs, field.TooLong(driverPath, "", 63))
		}
		errs = append(errs, validateDNSSubdomain(strings.ToLower(csi.Driver), driverPath)...)
	}
	if ref := csi.NodePublishSecretRef; ref != nil {
		if ref.Name == "" {
			errs = append(errs, field.Required(fldPath.Child("nodePublishSecretRef", "name"), ""))
		} else {
			errs = append(errs, validateObjectName(ref.Name, false, fldPath.Child("nodePublishSecretRef", "name"))...)
		}
	}
	return errs
}

// isHostPort reports whether s splits as "host:port" or "[host]:port", by
// the rules of net.SplitHostPort (this package may not import net).
func isHostPort(s string) bool {
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 || !strings.HasPrefix(s[end+1:], ":") {
			return false
		}
		return !strings.ContainsAny(s[1:end], "[]") && !strings.ContainsAny(s[end+2:], "[]")
	}
	colon := strings.LastIndexByte(s, ':')
	return colon >= 0 && !strings.Contains(s[:colon], ":") && !strings.ContainsAny(s, "[]")
}

package validation

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestValidateVolumeSources covers the rarer volume sources, one required
// field or format each. The new volume is always spec.volumes[5].
func TestValidateVolumeSources(t *testing.T) {
	const v5 = "spec.volumes[5]"
	cases := []struct {
		name   string
		source corev1.VolumeSource
		want   []problem
	}{
		{"gitRepo", corev1.VolumeSource{GitRepo: &corev1.GitRepoVolumeSource{Directory: "../up"}},
			[]problem{required(v5 + ".gitRepo.repository"), invalid(v5 + ".gitRepo.directory")}},
		{"gcePersistentDisk", corev1.VolumeSource{GCEPersistentDisk: &corev1.GCEPersistentDiskVolumeSource{Partition: 300}},
			[]problem{required(v5 + ".gcePersistentDisk.pdName"), invalid(v5 + ".gcePersistentDisk.partition")}},
		{"awsElasticBlockStore", corev1.VolumeSource{AWSElasticBlockStore: &corev1.AWSElasticBlockStoreVolumeSource{}},
			[]problem{required(v5 + ".awsElasticBlockStore.volumeID")}},
		{"nfs", corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Path: "/exports"}}, []problem{required(v5 + ".nfs.server")}},
		{"iscsi iqn", corev1.VolumeSource{ISCSI: &corev1.ISCSIVolumeSource{TargetPortal: "10.0.0.5:3260", IQN: "xyz", Lun: 300}},
			[]problem{invalid(v5 + ".iscsi.iqn"), invalid(v5 + ".iscsi.lun")}},
		{"iscsi chap needs a secret", corev1.VolumeSource{ISCSI: &corev1.ISCSIVolumeSource{TargetPortal: "10.0.0.5:3260", IQN: "eui.02004567A425678D", DiscoveryCHAPAuth: true}},
			[]problem{required(v5 + ".iscsi.secretRef")}},
		{"iscsi initiator", corev1.VolumeSource{ISCSI: &corev1.ISCSIVolumeSource{TargetPortal: "10.0.0.5:3260", IQN: "naa.60014055f3bd6b4e5a6e4a1c2a9e6d1b", InitiatorName: ptr("iqn.bad")}},
			[]problem{invalid(v5 + ".iscsi.initiatorName")}},
		{"glusterfs", corev1.VolumeSource{Glusterfs: &corev1.GlusterfsVolumeSource{EndpointsName: "gluster"}},
			[]problem{required(v5 + ".glusterfs.path"), forbidden(v5 + ".glusterfs")}},
		{"rbd", corev1.VolumeSource{RBD: &corev1.RBDVolumeSource{SecretRef: &corev1.LocalObjectReference{Name: "ceph"}}},
			[]problem{required(v5 + ".rbd.monitors"), required(v5 + ".rbd.image"), forbidden(v5 + ".rbd.secretRef")}},
		{"flexVolume", corev1.VolumeSource{FlexVolume: &corev1.FlexVolumeSource{Options: map[string]string{"kubernetes.io/x": "y"}}},
			[]problem{required(v5 + ".flexVolume.driver"), invalid(v5 + ".flexVolume.options[kubernetes.io/x]")}},
		{"cinder", corev1.VolumeSource{Cinder: &corev1.CinderVolumeSource{SecretRef: &corev1.LocalObjectReference{}}},
			[]problem{required(v5 + ".cinder.volumeID"), required(v5 + ".cinder.secretRef.name"), forbidden(v5 + ".cinder.secretRef")}},
		{"cephfs", corev1.VolumeSource{CephFS: &corev1.CephFSVolumeSource{}}, []problem{required(v5 + ".cephfs.monitors")}},
		{"flocker", corev1.VolumeSource{Flocker: &corev1.FlockerVolumeSource{DatasetName: "a/b", DatasetUUID: "u"}},
			[]problem{invalid(v5 + ".flocker"), invalid(v5 + ".flocker.datasetName")}},
		{"fc", corev1.VolumeSource{FC: &corev1.FCVolumeSource{TargetWWNs: []string{"500a0982991b8dc5"}}}, []problem{required(v5 + ".fc.lun")}},
		{"azureFile", corev1.VolumeSource{AzureFile: &corev1.AzureFileVolumeSource{SecretName: "azure"}},
			[]problem{required(v5 + ".azureFile.shareName"), forbidden(v5 + ".azureFile")}},
		{"vsphereVolume", corev1.VolumeSource{VsphereVolume: &corev1.VsphereVirtualDiskVolumeSource{}}, []problem{required(v5 + ".vsphereVolume.volumePath")}},
		{"quobyte", corev1.VolumeSource{Quobyte: &corev1.QuobyteVolumeSource{Registry: "no-port", Volume: "v"}}, []problem{invalid(v5 + ".quobyte.registry")}},
		{"quobyte registries", corev1.VolumeSource{Quobyte: &corev1.QuobyteVolumeSource{Registry: "[fd00::1]:7861,registry.example.com:7861", Volume: "v"}}, nil},
		{"quobyte registry with a bare IPv6", corev1.VolumeSource{Quobyte: &corev1.QuobyteVolumeSource{Registry: "fd00::1:7861", Volume: "v"}},
			[]problem{invalid(v5 + ".quobyte.registry")}},
		{"azureDisk", corev1.VolumeSource{AzureDisk: &corev1.AzureDiskVolumeSource{DiskName: "d", DataDiskURI: "http://x", Kind: ptr(corev1.AzureManagedDisk)}},
			[]problem{notSupported(v5 + ".azureDisk.diskURI")}},
		{"photonPersistentDisk", corev1.VolumeSource{PhotonPersistentDisk: &corev1.PhotonPersistentDiskVolumeSource{}}, []problem{required(v5 + ".photonPersistentDisk.pdID")}},
		{"portworxVolume", corev1.VolumeSource{PortworxVolume: &corev1.PortworxVolumeSource{}}, []problem{required(v5 + ".portworxVolume.volumeID")}},
		{"scaleIO", corev1.VolumeSource{ScaleIO: &corev1.ScaleIOVolumeSource{Gateway: "g", System: "s", SecretRef: &corev1.LocalObjectReference{Name: "sio"}}},
			[]problem{required(v5 + ".scaleIO.volumeName"), forbidden(v5 + ".scaleIO.secretRef")}},
		{"storageos", corev1.VolumeSource{StorageOS: &corev1.StorageOSVolumeSource{VolumeName: "Bad_Name"}}, []problem{invalid(v5 + ".storageos.volumeName")}},
		{"csi driver", corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{Driver: "Bad Driver"}},
			[]problem{invalid(v5 + ".csi.driver"), forbidden(v5 + ".csi")}},
		{"ephemeral template", corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{}},
			[]problem{required(v5 + ".ephemeral.volumeClaimTemplate"), forbidden(v5 + ".ephemeral")}},
		{"secret items", corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s", Items: []corev1.KeyToPath{{Key: "k", Path: "..data", Mode: ptr(int32(0o1000))}}}},
			[]problem{invalid(v5 + ".secret.items[0].path"), invalid(v5 + ".secret.items[0].mode"), forbidden(v5 + ".secret")}},
		{"projected one kind per source", corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{{
			DownwardAPI: &corev1.DownwardAPIProjection{},
			ConfigMap:   &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "c"}},
		}}}}, []problem{forbidden(v5 + ".projected.sources[0]"), forbidden(v5 + ".projected.sources[0].configMap")}},
		{"downwardAPI subscripted field", corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
			{Path: "tier", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.labels['tier']"}},
			{Path: "bad", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.labels['bad key']"}},
			{Path: "node", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "spec.nodeName"}},
			{Path: "mem", ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory"}},
		}}}, []problem{
			invalid(v5 + ".downwardAPI.items[1].fieldRef"),
			notSupported(v5 + ".downwardAPI.items[2].fieldRef.fieldPath"),
			required(v5 + ".downwardAPI.items[3].resourceFieldRef.containerName"),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := baselinePod()
			addVolume(p, corev1.Volume{Name: "extra", VolumeSource: tc.source})
			assertProblems(t, ValidatePod(p), tc.want...)
		})
	}
}

// TestValidatePodLessCommonRules covers rules few static pods touch.
func TestValidatePodLessCommonRules(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(p *corev1.Pod)
		want   []problem
	}{
		{"env from file needs an emptyDir", func(p *corev1.Pod) {
			addVolume(p, corev1.Volume{Name: "env", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
			container0(p).Env = append(container0(p).Env,
				corev1.EnvVar{Name: "A", ValueFrom: &corev1.EnvVarSource{FileKeyRef: &corev1.FileKeySelector{VolumeName: "env", Path: "vars.env", Key: "A"}}},
				corev1.EnvVar{Name: "B", ValueFrom: &corev1.EnvVarSource{FileKeyRef: &corev1.FileKeySelector{VolumeName: "ca-certs", Path: "vars.env", Key: "B"}}},
				corev1.EnvVar{Name: "C", ValueFrom: &corev1.EnvVarSource{FileKeyRef: &corev1.FileKeySelector{VolumeName: "nope", Path: "../x", Key: ""}}},
			)
		}, []problem{
			invalid(c0 + ".env[2].valueFrom.fileKeyRef.volumeName"),
			notFound(c0 + ".env[3].valueFrom.fileKeyRef.volumeName"),
			invalid(c0 + ".env[3].valueFrom.fileKeyRef.path"),
			required(c0 + ".env[3].valueFrom.fileKeyRef.key"),
		}},
		{"bindMountOptions", func(p *corev1.Pod) {
			container0(p).VolumeMounts[0].BindMountOptions = []string{"noexec", "noexec", "ro"}
		}, []problem{duplicate(c0 + ".volumeMounts[0].bindMountOptions[1]"), notSupported(c0 + ".volumeMounts[0].bindMountOptions[2]")}},
		{"apparmor localhost profile", func(p *corev1.Pod) {
			p.Spec.SecurityContext.AppArmorProfile = &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeLocalhost, LocalhostProfile: ptr(" k8s-apparmor ")}
		}, []problem{invalid("spec.securityContext.appArmorProfile.localhostProfile")}},
		{"apparmor localhost needs a profile", func(p *corev1.Pod) {
			p.Spec.SecurityContext.AppArmorProfile = &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeLocalhost}
		}, []problem{required("spec.securityContext.appArmorProfile.localhostProfile")}},
		{"seccomp annotation localhost mismatch", func(p *corev1.Pod) {
			p.Spec.SecurityContext.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: ptr("a.json")}
			p.Annotations[corev1.SeccompPodAnnotationKey] = "localhost/b.json"
		}, []problem{forbidden("spec.securityContext.seccompProfile.localhostProfile")}},
		{"node affinity weights and values", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
					MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"not valid!"}}},
					MatchFields:      []corev1.NodeSelectorRequirement{{Key: "metadata.uid", Operator: corev1.NodeSelectorOpIn, Values: []string{"x"}}},
				}}},
				PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{Weight: 0, Preference: corev1.NodeSelectorTerm{
					MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpExists, Values: []string{"a"}}},
				}}},
			}}
		}, []problem{
			invalid("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values[0]"),
			invalid("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].key"),
			invalid("spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight"),
			forbidden("spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].preference.matchExpressions[0].values"),
		}},
		{"pod affinity label keys", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
				Weight: 101,
				PodAffinityTerm: corev1.PodAffinityTerm{
					TopologyKey:       "kubernetes.io/hostname",
					MatchLabelKeys:    []string{"app"},
					MismatchLabelKeys: []string{"app"},
					LabelSelector:     &metav1.LabelSelector{},
				},
			}}}}
		}, []problem{
			invalid("spec.affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight"),
			invalid("spec.affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.matchLabelKeys[0]"),
		}},
		{"topology spread matchLabelKeys and policies", func(p *corev1.Pod) {
			p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{
				{MaxSkew: 1, TopologyKey: "zone", WhenUnsatisfiable: corev1.ScheduleAnyway, MinDomains: ptr(int32(2)),
					NodeTaintsPolicy: ptr(corev1.NodeInclusionPolicy("Maybe")),
					LabelSelector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}}, MatchLabelKeys: []string{"app"}},
				{MaxSkew: 1, TopologyKey: "zone", WhenUnsatisfiable: corev1.ScheduleAnyway, MatchLabelKeys: []string{"pod-template-hash"}},
			}
		}, []problem{
			invalid("spec.topologySpreadConstraints[0].minDomains"),
			notSupported("spec.topologySpreadConstraints[0].nodeTaintsPolicy"),
			invalid("spec.topologySpreadConstraints[0].matchLabelKeys[0]"),
			duplicate("spec.topologySpreadConstraints[0].{topologyKey, whenUnsatisfiable}"),
			forbidden("spec.topologySpreadConstraints[1].matchLabelKeys"),
		}},
		{"windows options", func(p *corev1.Pod) {
			p.Spec.OS = &corev1.PodOS{Name: corev1.Windows}
			p.Spec.SecurityContext = &corev1.PodSecurityContext{WindowsOptions: &corev1.WindowsSecurityContextOptions{
				GMSACredentialSpecName: ptr("Bad_Name"),
				GMSACredentialSpec:     ptr(""),
				RunAsUserName:          ptr(`a\b\c`),
			}}
		}, []problem{
			invalid("spec.securityContext.windowsOptions.gmsaCredentialSpecName"),
			invalid("spec.securityContext.windowsOptions.gmsaCredentialSpec"),
			invalid("spec.securityContext.windowsOptions.runAsUserName"),
		}},
		{"windows user name", func(p *corev1.Pod) {
			p.Spec.OS = &corev1.PodOS{Name: corev1.Windows}
			p.Spec.SecurityContext = &corev1.PodSecurityContext{WindowsOptions: &corev1.WindowsSecurityContextOptions{RunAsUserName: ptr(`DOMAIN\us:er`)}}
		}, []problem{invalid("spec.securityContext.windowsOptions.runAsUserName")}},
		{"windows hostProcess is all or nothing", func(p *corev1.Pod) {
			p.Spec.OS = &corev1.PodOS{Name: corev1.Windows}
			p.Spec.SecurityContext = nil
			c := secondContainer()
			c.SecurityContext = &corev1.SecurityContext{WindowsOptions: &corev1.WindowsSecurityContextOptions{HostProcess: ptr(true)}}
			p.Spec.Containers = append(p.Spec.Containers, c)
		}, []problem{invalid("spec")}},
		{"windows stop signal", func(p *corev1.Pod) {
			p.Spec.OS = &corev1.PodOS{Name: corev1.Windows}
			p.Spec.SecurityContext = nil
			container0(p).Lifecycle = &corev1.Lifecycle{StopSignal: ptr(corev1.SIGHUP)}
		}, []problem{notSupported(c0 + ".lifecycle.stopSignal")}},
		{"deletion cost accepts negative int32", func(p *corev1.Pod) { p.Annotations[corev1.PodDeletionCost] = "-100" }, nil},
		{"env fieldRef apiVersion v1 only", func(p *corev1.Pod) { container0(p).Env[0].ValueFrom.FieldRef.APIVersion = "v2" },
			[]problem{invalid(c0 + ".env[0].valueFrom.fieldRef.fieldPath")}},
		{"env fieldRef subscript only on labels and annotations", func(p *corev1.Pod) {
			container0(p).Env[0].ValueFrom.FieldRef.FieldPath = "metadata.annotations['Example.com/Key']"
			container0(p).Env = append(container0(p).Env, corev1.EnvVar{Name: "X", ValueFrom: &corev1.EnvVarSource{
				FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "spec.nodeName['x']"}}})
		}, []problem{invalid(c0 + ".env[1].valueFrom.fieldRef.fieldPath")}},
		{"hostUsers false with volumeDevices", func(p *corev1.Pod) {
			p.Spec.HostUsers = ptr(false)
			container0(p).VolumeDevices = []corev1.VolumeDevice{{Name: "nope", DevicePath: "/dev/xvdb"}}
		}, []problem{forbidden(c0 + ".volumeDevices"), notFound(c0 + ".volumeDevices[0].name")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := baselinePod()
			tc.mutate(p)
			assertProblems(t, ValidatePod(p), tc.want...)
		})
	}
}

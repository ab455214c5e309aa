package main

import (
	"reflect"
	"sort"

	"github.com/hashicorp/go-hclog"

	"github.com/staticlet/staticlet/host/config"
	staticurl "github.com/staticlet/staticlet/host/source/http"
)

// reloadRule is what SIGHUP does with one field of config.Settings.
type reloadRule struct {
	// setting is the field's name as an operator writes it (staticlet's
	// configuration or the KubeletConfiguration).
	setting string
	// apply makes the running agent use the new value; nil means the field
	// only changes on restart, and a changed value is logged and kept.
	apply func(t reloadTargets, next config.Settings)
}

// reloadTargets are the running parts a SIGHUP can change.
type reloadTargets struct {
	log      hclog.Logger
	policies *policyManager
	// http is the staticPodURL source; nil when none runs.
	http *staticurl.Source
}

func restartOnly(setting string) reloadRule { return reloadRule{setting: setting} }

// reloadRules has a rule for every field of config.Settings, by field name
// (TestReloadRulesCoverSettings fails when a field has none). What is
// applied is cheap and safe to change under running pods; everything that
// the runtime, the sources' setup, the mirrors or the sockets were built
// from needs a restart.
var reloadRules = map[string]reloadRule{
	"NodeName":           restartOnly("nodeName"),
	"PodManifestPath":    restartOnly("podManifestPath"),
	"FileCheckFrequency": restartOnly("fileCheckFrequency"),
	"StaticPodURL":       restartOnly("staticPodURL"),
	"StaticPodURLHeader": restartOnly("staticPodURLHeader"),
	"HTTPCheckFrequency": {setting: "httpCheckFrequency", apply: func(t reloadTargets, next config.Settings) {
		if t.http != nil {
			t.http.SetInterval(next.HTTPCheckFrequency)
		}
	}},
	"ClusterDNS":           restartOnly("clusterDNS"),
	"ClusterDomain":        restartOnly("clusterDomain"),
	"SeccompDefault":       restartOnly("seccompDefault"),
	"AllowedUnsafeSysctls": restartOnly("allowedUnsafeSysctls"),
	"CgroupRoot":           restartOnly("cgroupRoot"),
	"CgroupsPerQOS":        restartOnly("cgroupsPerQOS"),
	"CgroupDriver":         restartOnly("cgroupDriver"),
	"PodPidsLimit":         restartOnly("podPidsLimit"),
	// Each container's logger gets its limits when the container starts.
	"ContainerLogMaxSize":  restartOnly("containerLogMaxSize"),
	"ContainerLogMaxFiles": restartOnly("containerLogMaxFiles"),
	"ContainerdAddress":    restartOnly("containerd.address"),
	"ContainerdNamespace":  restartOnly("containerd.namespace"),
	"Kubeconfig":           restartOnly("kubeconfig"),
	"StatusSocket":         restartOnly("statusSocket"),
	"MetricsAddress":       restartOnly("metricsAddress"),
	"PodLogDir":            restartOnly("podLogDir"),
	"StateDir":             restartOnly("stateDir"),
	"LogFormat":            restartOnly("logging.format"),
	"LogLevel": {setting: "logging.level", apply: func(t reloadTargets, next config.Settings) {
		if lvl := hclog.LevelFromString(next.LogLevel); lvl != hclog.NoLevel {
			t.log.SetLevel(lvl)
		}
	}},
	"RemovalDelay": restartOnly("source.removalDelay"),
	"Debounce":     restartOnly("source.debounce"),
	"Plugins": {setting: "plugins", apply: func(t reloadTargets, next config.Settings) {
		t.policies.SetSpecs(next.Plugins)
	}},
	// The folder relative plugin paths resolve against: the --config
	// file's, fixed for the process.
	"PluginBaseDir":  restartOnly("plugin base folder (the --config file's)"),
	"PluginCacheDir": restartOnly("pluginCacheDir"),
	// The plugin manager loads every chain with the limits it started with.
	"PluginMaxModuleBytes":     restartOnly("pluginLoading.maxModuleSize"),
	"PluginCompileTimeout":     restartOnly("pluginLoading.compileTimeout"),
	"PluginCompileMemoryBytes": restartOnly("pluginLoading.compileMemory"),
	"PluginPublicKeys":         restartOnly("pluginLoading.publicKeys"),
	"PluginStoreDir":           restartOnly("pluginLoading.storeDir"),
	"RegisterNode":             restartOnly("registerNode"),
	"NodeLabels":               restartOnly("nodeLabels"),
	"NodeIP":                   restartOnly("nodeIP"),
	"RegisterWithTaints":       restartOnly("registerWithTaints"),
	"KubeletPort":              restartOnly("kubeletPort"),
	"KubeletServer":            restartOnly("kubeletServer"),
	"CNIConfDir":               restartOnly("network.cniConfDir"),
	"CNIBinDirs":               restartOnly("network.cniBinDirs"),
	"CNICacheDir":              restartOnly("network.cniCacheDir"),
	"Mode":                     restartOnly("mode"),
	"FrontAddress":             restartOnly("front.address"),
}

// applyReload compares the running settings with the reloaded ones field by
// field: a changed field with an apply rule is applied and logged; any
// other changed field is logged as needing a restart and keeps its running
// value. It returns the settings now in force.
func applyReload(current, next config.Settings, t reloadTargets) config.Settings {
	cur := reflect.ValueOf(&current).Elem()
	nxt := reflect.ValueOf(next)
	names := make([]string, 0, cur.NumField())
	for i := range cur.NumField() {
		names = append(names, cur.Type().Field(i).Name)
	}
	sort.Strings(names)
	for _, name := range names {
		was, now := cur.FieldByName(name), nxt.FieldByName(name)
		if reflect.DeepEqual(was.Interface(), now.Interface()) {
			continue
		}
		rule, ok := reloadRules[name]
		switch {
		case !ok:
			// A field without a rule is a bug the test catches; at run time
			// it is safest to treat it as needing a restart.
			t.log.Warn("SIGHUP: this setting only changes on restart; keeping the running value", "setting", name)
		case rule.apply == nil:
			t.log.Warn("SIGHUP: this setting only changes on restart; keeping the running value", "setting", rule.setting)
		default:
			rule.apply(t, next)
			was.Set(now)
			t.log.Info("SIGHUP: setting applied", "setting", rule.setting)
		}
	}
	return current
}

package main

import (
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/staticlet/staticlet/host/config"
)

// settingsFlags are the configuration flags shared by run and check.
type settingsFlags struct {
	configFile string
	overrides  config.Overrides
}

func (f *settingsFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.configFile, "config", "", "StaticletConfiguration file (staticlet.dev/v1alpha1)")
	fs.StringVar(&f.overrides.KubeletConfig, "kubelet-config", "", "KubeletConfiguration file to take staticPodPath and fileCheckFrequency from")
	fs.StringVar(&f.overrides.PodManifestPath, "pod-manifest-path", "", "staticPodPath override: a folder or a single manifest file")
	fs.StringVar(&f.overrides.NodeName, "node-name", "", "node name (default: the lowercased hostname)")
	fs.StringVar(&f.overrides.LogLevel, "log-level", "", "log level: trace, debug, info, warn, error")
	fs.StringVar(&f.overrides.LogFormat, "log-format", "", "log format: text or json")
}

// registerRun adds the flags only the agent uses: check never talks to the
// API server.
func (f *settingsFlags) registerRun(fs *pflag.FlagSet) {
	f.register(fs)
	fs.StringVar(&f.overrides.Kubeconfig, "kubeconfig", "", "kubeconfig with the node identity system:node:<nodeName>; enables mirror pods (default: standalone)")
}

// resolve loads both files and merges them with the flags. Every error is a
// configuration error (exit code 2).
func (f *settingsFlags) resolve() (config.Settings, error) {
	var sc config.StaticletConfiguration
	if f.configFile != "" {
		var err error
		if sc, err = config.LoadStaticletConfig(f.configFile); err != nil {
			return config.Settings{}, usageError(err)
		}
	}
	kubeletFile := f.overrides.KubeletConfig
	if kubeletFile == "" {
		kubeletFile = sc.KubeletConfig
	}
	var kubelet *config.KubeletSettings
	if kubeletFile != "" {
		ks, err := config.LoadKubeletConfig(kubeletFile)
		if err != nil {
			return config.Settings{}, usageError(err)
		}
		kubelet = &ks
	}
	hostname, _ := os.Hostname()
	s, err := config.Resolve(kubelet, sc, f.overrides, hostname)
	if err != nil {
		return s, usageError(fmt.Errorf("configuration: %w", err))
	}
	return s, nil
}

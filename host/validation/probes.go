package validation

import (
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	uriSchemes     = []corev1.URIScheme{corev1.URISchemeHTTP, corev1.URISchemeHTTPS}
	httpProtocols  = []corev1.HTTPProtocol{corev1.HTTPProtocolHTTP1, corev1.HTTPProtocolHTTP2}
	grpcProbeModes = []corev1.GRPCProbeMode{corev1.GRPCProbeModePlaintext, corev1.GRPCProbeModeTLS}

	windowsStopSignals = []corev1.Signal{corev1.SIGKILL, corev1.SIGTERM}
	linuxStopSignals   = []corev1.Signal{
		corev1.SIGABRT, corev1.SIGALRM, corev1.SIGBUS, corev1.SIGCHLD, corev1.SIGCLD, corev1.SIGCONT, corev1.SIGFPE,
		corev1.SIGHUP, corev1.SIGILL, corev1.SIGINT, corev1.SIGIO, corev1.SIGIOT, corev1.SIGKILL, corev1.SIGPIPE,
		corev1.SIGPOLL, corev1.SIGPROF, corev1.SIGPWR, corev1.SIGQUIT, corev1.SIGSEGV, corev1.SIGSTKFLT,
		corev1.SIGSTOP, corev1.SIGSYS, corev1.SIGTERM, corev1.SIGTRAP, corev1.SIGTSTP, corev1.SIGTTIN,
		corev1.SIGTTOU, corev1.SIGURG, corev1.SIGUSR1, corev1.SIGUSR2, corev1.SIGVTALRM, corev1.SIGWINCH,
		corev1.SIGXCPU, corev1.SIGXFSZ, corev1.SIGRTMIN, corev1.SIGRTMINPLUS1, corev1.SIGRTMINPLUS2,
		corev1.SIGRTMINPLUS3, corev1.SIGRTMINPLUS4, corev1.SIGRTMINPLUS5, corev1.SIGRTMINPLUS6,
		corev1.SIGRTMINPLUS7, corev1.SIGRTMINPLUS8, corev1.SIGRTMINPLUS9, corev1.SIGRTMINPLUS10,
		corev1.SIGRTMINPLUS11, corev1.SIGRTMINPLUS12, corev1.SIGRTMINPLUS13, corev1.SIGRTMINPLUS14,
		corev1.SIGRTMINPLUS15, corev1.SIGRTMAXMINUS14, corev1.SIGRTMAXMINUS13, corev1.SIGRTMAXMINUS12,
		corev1.SIGRTMAXMINUS11, corev1.SIGRTMAXMINUS10, corev1.SIGRTMAXMINUS9, corev1.SIGRTMAXMINUS8,
		corev1.SIGRTMAXMINUS7, corev1.SIGRTMAXMINUS6, corev1.SIGRTMAXMINUS5, corev1.SIGRTMAXMINUS4,
		corev1.SIGRTMAXMINUS3, corev1.SIGRTMAXMINUS2, corev1.SIGRTMAXMINUS1, corev1.SIGRTMAX,
	}
)

type probeKind int

const (
	livenessProbe probeKind = iota
	readinessProbe
	startupProbe
)

// handler is the union of probe and lifecycle actions; exactly one may be set.
type handler struct {
	exec      *corev1.ExecAction
	httpGet   *corev1.HTTPGetAction
	tcpSocket *corev1.TCPSocketAction
	grpc      *corev1.GRPCAction
	sleep     *corev1.SleepAction
}

// validateLifecycleAndProbes covers the fields only long-running containers
// (regular containers and sidecars) may have.
func validateLifecycleAndProbes(pc *podContext, c *corev1.Container, cPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if lc := c.Lifecycle; lc != nil {
		lcPath := cPath.Child("lifecycle")
		if h := lc.PostStart; h != nil {
			errs = append(errs, validateHandler(pc, c, handler{exec: h.Exec, httpGet: h.HTTPGet, tcpSocket: h.TCPSocket, sleep: h.Sleep}, lcPath.Child("postStart"))...)
		}
		if h := lc.PreStop; h != nil {
			errs = append(errs, validateHandler(pc, c, handler{exec: h.Exec, httpGet: h.HTTPGet, tcpSocket: h.TCPSocket, sleep: h.Sleep}, lcPath.Child("preStop"))...)
		}
		if lc.StopSignal != nil {
			errs = append(errs, validateStopSignal(*lc.StopSignal, pc.spec.OS, lcPath.Child("stopSignal"))...)
		}
	}
	errs = append(errs, validateProbe(pc, c, c.LivenessProbe, livenessProbe, cPath.Child("livenessProbe"))...)
	errs = append(errs, validateProbe(pc, c, c.ReadinessProbe, readinessProbe, cPath.Child("readinessProbe"))...)
	errs = append(errs, validateProbe(pc, c, c.StartupProbe, startupProbe, cPath.Child("startupProbe"))...)
	return errs
}

// validateProbe: exactly one handler; counts and durations are not
// negative (defaulting turns zeros into the API server's defaults); liveness
// and startup probes succeed on the first success.
func validateProbe(pc *podContext, c *corev1.Container, probe *corev1.Probe, kind probeKind, fldPath *field.Path) field.ErrorList {
	if probe == nil {
		return nil
	}
	h := probe.ProbeHandler
	errs := validateHandler(pc, c, handler{exec: h.Exec, httpGet: h.HTTPGet, tcpSocket: h.TCPSocket, grpc: h.GRPC}, fldPath)
	errs = append(errs, validateNonNegative(int64(probe.InitialDelaySeconds), fldPath.Child("initialDelaySeconds"))...)
	errs = append(errs, validateNonNegative(int64(probe.TimeoutSeconds), fldPath.Child("timeoutSeconds"))...)
	errs = append(errs, validateNonNegative(int64(probe.PeriodSeconds), fldPath.Child("periodSeconds"))...)
	errs = append(errs, validateNonNegative(int64(probe.SuccessThreshold), fldPath.Child("successThreshold"))...)
	errs = append(errs, validateNonNegative(int64(probe.FailureThreshold), fldPath.Child("failureThreshold"))...)
	gracePath := fldPath.Child("terminationGracePeriodSeconds")
	if probe.TerminationGracePeriodSeconds != nil && *probe.TerminationGracePeriodSeconds <= 0 {
		errs = append(errs, field.Invalid(gracePath, *probe.TerminationGracePeriodSeconds, "must be greater than 0"))
	}
	switch kind {
	case livenessProbe, startupProbe:
		if probe.SuccessThreshold != 1 {
			errs = append(errs, field.Invalid(fldPath.Child("successThreshold"), probe.SuccessThreshold, "must be 1"))
		}
	case readinessProbe:
		if probe.TerminationGracePeriodSeconds != nil {
			errs = append(errs, field.Invalid(gracePath, *probe.TerminationGracePeriodSeconds, "must not be set for readinessProbes"))
		}
	}
	return errs
}

func validateHandler(pc *podContext, c *corev1.Container, h handler, fldPath *field.Path) field.ErrorList {
	u := oneOf{base: fldPath, detail: detailOneHandler}
	u.member(h.exec != nil, "exec", func(p *field.Path) field.ErrorList {
		if len(h.exec.Command) == 0 {
			return field.ErrorList{field.Required(p.Child("command"), "")}
		}
		return nil
	})
	u.member(h.httpGet != nil, "httpGet", func(p *field.Path) field.ErrorList {
		return validateHTTPGetAction(c, h.httpGet, p)
	})
	u.member(h.tcpSocket != nil, "tcpSocket", func(p *field.Path) field.ErrorList {
		return validateHandlerPort(c, h.tcpSocket.Port, p.Child("port"))
	})
	u.member(h.grpc != nil, "grpc", func(p *field.Path) field.ErrorList {
		errs := validateHandlerPort(c, intstr.FromInt32(h.grpc.Port), p.Child("port"))
		if h.grpc.Mode != nil && *h.grpc.Mode != corev1.GRPCProbeModePlaintext && *h.grpc.Mode != corev1.GRPCProbeModeTLS {
			errs = append(errs, field.NotSupported(p.Child("mode"), *h.grpc.Mode, grpcProbeModes))
		}
		return errs
	})
	u.member(h.sleep != nil, "sleep", func(p *field.Path) field.ErrorList {
		// A nil grace period is reported on its own field already.
		if grace := pc.gracePeriod; grace != nil && (h.sleep.Seconds < 0 || h.sleep.Seconds > *grace) {
			return field.ErrorList{field.Invalid(p, h.sleep.Seconds, fmt.Sprintf("must be non-negative and less than terminationGracePeriodSeconds (%d)", *grace))}
		}
		return nil
	})
	if u.set == 0 {
		u.errs = append(u.errs, field.Required(fldPath, "must specify a handler type"))
	}
	return u.errs
}

func validateHTTPGetAction(c *corev1.Container, action *corev1.HTTPGetAction, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if action.Path == "" {
		errs = append(errs, field.Required(fldPath.Child("path"), ""))
	}
	errs = append(errs, validateHandlerPort(c, action.Port, fldPath.Child("port"))...)
	if action.Scheme != corev1.URISchemeHTTP && action.Scheme != corev1.URISchemeHTTPS {
		errs = append(errs, field.NotSupported(fldPath.Child("scheme"), action.Scheme, uriSchemes))
	}
	for _, header := range action.HTTPHeaders {
		for _, msg := range validation.IsHTTPHeaderName(header.Name) {
			errs = append(errs, field.Invalid(fldPath.Child("httpHeaders"), header.Name, msg))
		}
	}
	if action.Protocol != nil {
		switch {
		case *action.Protocol != corev1.HTTPProtocolHTTP1 && *action.Protocol != corev1.HTTPProtocolHTTP2:
			errs = append(errs, field.NotSupported(fldPath.Child("protocol"), *action.Protocol, httpProtocols))
		case *action.Protocol == corev1.HTTPProtocolHTTP2 && action.Scheme != corev1.URISchemeHTTP:
			errs = append(errs, field.Invalid(fldPath.Child("protocol"), *action.Protocol, "is only supported with HTTP (H2C)"))
		case *action.Protocol == corev1.HTTPProtocolHTTP2 && action.Host != "":
			errs = append(errs, field.Invalid(fldPath.Child("host"), action.Host, "must be empty when `protocol` is \"HTTP2\""))
		}
	}
	return errs
}

// validateHandlerPort accepts a port number 1-65535 or an IANA service name.
// Stricter than the API server, a name must also be one of the container's
// declared ports: the agent resolves it there, and an unknown name would
// only surface as a probe or hook failing forever.
func validateHandlerPort(c *corev1.Container, port intstr.IntOrString, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch port.Type {
	case intstr.Int:
		for _, msg := range validation.IsValidPortNum(int(port.IntVal)) {
			errs = append(errs, field.Invalid(fldPath, port.IntVal, msg))
		}
	case intstr.String:
		for _, msg := range validation.IsValidPortName(port.StrVal) {
			errs = append(errs, field.Invalid(fldPath, port.StrVal, msg))
		}
		if len(errs) == 0 && !hasPortNamed(c, port.StrVal) {
			errs = append(errs, field.Invalid(fldPath, port.StrVal, "must be the name of one of the container's ports"))
		}
	default:
		errs = append(errs, field.Invalid(fldPath, port.String(), "must be a port number or name"))
	}
	return errs
}

func hasPortNamed(c *corev1.Container, name string) bool {
	for _, p := range c.Ports {
		if p.Name == name {
			return true
		}
	}
	return false
}

func validateStopSignal(signal corev1.Signal, os *corev1.PodOS, fldPath *field.Path) field.ErrorList {
	switch {
	case os == nil:
		return field.ErrorList{field.Forbidden(fldPath, "may not be set for containers with empty `spec.os.name`")}
	case os.Name == corev1.Windows:
		if !slices.Contains(windowsStopSignals, signal) {
			return field.ErrorList{field.NotSupported(fldPath, signal, windowsStopSignals)}
		}
	case os.Name == corev1.Linux:
		if !slices.Contains(linuxStopSignals, signal) {
			return field.ErrorList{field.NotSupported(fldPath, signal, linuxStopSignals)}
		}
	}
	return nil
}

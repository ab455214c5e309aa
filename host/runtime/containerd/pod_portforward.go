package containerd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
)

// PortForward implements portforward.PortForwarder, as containerd's CRI
// plugin forwards for the kubelet: stream is connected to localhost:port in
// the network namespace of the pod uid (the host's for a hostNetwork pod);
// name, "namespace/name", is for messages. It returns once the pod's side
// is done, or ctx ends; the stream's end only half-closes the connection,
// so the pod's side can still answer.
func (r *Runtime) PortForward(ctx context.Context, name, uid string, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	what := fmt.Sprintf("port-forward to pod %s port %d", name, port)
	targets, err := r.targetsOf(ctx, what, uid)
	if err != nil {
		return err
	}
	if port <= 0 || port > 65535 {
		return fmt.Errorf("%s: not a TCP port", what)
	}
	conn, err := dialLocalhost(ctx, targets, port)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer conn.Close()

	fromPod := make(chan error, 1)
	go func() {
		_, err := io.Copy(stream, conn)
		fromPod <- err
	}()
	toPod := make(chan error, 1)
	go func() {
		_, err := io.Copy(conn, stream)
		if err == nil {
			// The client is done sending; the pod's side may still answer.
			err = closeWrite(conn)
		}
		toPod <- err
	}()
	for {
		select {
		case err := <-fromPod:
			if err != nil {
				return fmt.Errorf("%s: from the pod: %w", what, err)
			}
			return nil
		case err := <-toPod:
			if err != nil {
				return fmt.Errorf("%s: to the pod: %w", what, err)
			}
			toPod = nil // wait for the pod's side
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, ctx.Err())
		}
	}
}

// dialLocalhost connects to port on the pod's loopback, IPv4 first, then
// IPv6, one after the other: a dial of "localhost" would race both families
// from goroutines that are not in the pod's network namespace.
func dialLocalhost(ctx context.Context, targets *podTargets, port int32) (net.Conn, error) {
	p := strconv.Itoa(int(port))
	conn, err4 := targets.dial(ctx, "tcp4", net.JoinHostPort("127.0.0.1", p))
	if err4 == nil {
		return conn, nil
	}
	conn, err6 := targets.dial(ctx, "tcp6", net.JoinHostPort("::1", p))
	if err6 == nil {
		return conn, nil
	}
	return nil, fmt.Errorf("connect to localhost:%s: %w", p, errors.Join(err4, err6))
}

func closeWrite(conn net.Conn) error {
	if c, ok := conn.(interface{ CloseWrite() error }); ok {
		return c.CloseWrite()
	}
	return nil
}

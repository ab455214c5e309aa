package main

import (
	"context"
	"net"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/staticlet/staticlet/host/agent"
)

// sdNotify sends a state line to systemd when it runs us with Type=notify
// ($NOTIFY_SOCKET set); otherwise it does nothing. The protocol is one
// datagram on a unix socket, so no library is needed.
func sdNotify(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if path[0] == '@' { // abstract socket namespace
		path = "\x00" + path[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.Write([]byte(state))
	return err
}

// notifyWhenSynced tells systemd the agent is ready once every source has
// been read completely and the runtime's pods were adopted: from then on
// the agent acts on the node's real state.
func notifyWhenSynced(ctx context.Context, a *agent.Agent, log hclog.Logger) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := a.Status(ctx)
		if err == nil && st.Synced {
			log.Info("agent synced: every source listed and running pods adopted")
			if err := sdNotify("READY=1\nSTATUS=synced"); err != nil {
				log.Warn("sd_notify failed", "error", err)
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

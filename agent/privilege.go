package agent

import (
	"errors"
	"io/fs"
	"os"
)

// PrivilegeError says that the agent was denied what only root (with
// CAP_NET_ADMIN and CAP_NET_RAW) may do: read its root-only agent.json,
// take the node lock in /run/hac, create the status socket, open the raw
// VRRP and ARP sockets, change addresses. Err is the denial (EACCES or
// EPERM) as the operation reported it.
type PrivilegeError struct {
	Err  error
	Root bool // the agent ran as root, without the capabilities
}

func (e *PrivilegeError) Error() string {
	if e.Root {
		return "the hac agent runs as root but lacks a capability it needs (CAP_NET_ADMIN and CAP_NET_RAW): " +
			"the unit hac build writes grants both (AmbientCapabilities, CapabilityBoundingSet); " +
			"in a container, add them (docker run --cap-add NET_ADMIN --cap-add NET_RAW)\n(" + e.Err.Error() + ")"
	}
	return "the hac agent needs root: it changes addresses and opens raw VRRP sockets (CAP_NET_ADMIN and CAP_NET_RAW) " +
		"and keeps its lock in /run/hac: run it as the systemd unit hac build writes (systemctl start hac-agent), " +
		"or by hand with sudo (sudo hac-agent --config ...)\n(" + e.Err.Error() + ")"
}

func (e *PrivilegeError) Unwrap() error { return e.Err }

// ExplainPermission returns err as a [*PrivilegeError] when it is a
// permission denial (EACCES, EPERM), which for the agent means it runs
// without root or without its capabilities; any other err unchanged.
func ExplainPermission(err error) error {
	return explainPermission(err, os.Geteuid())
}

func explainPermission(err error, euid int) error {
	if err == nil || !errors.Is(err, fs.ErrPermission) {
		return err
	}
	if _, ok := errors.AsType[*PrivilegeError](err); ok {
		return err
	}
	return &PrivilegeError{Err: err, Root: euid == 0}
}

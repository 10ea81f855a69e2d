package server

import (
	"fmt"
	"strings"
	"sync/atomic"
	"time"
)

// Platform-neutral parts of the Windows service support, kept out of the
// windows-only files so that they are tested everywhere.

// defaultServiceName is the service the server registers as, and the one
// `-sl <cmd>` controls on Windows when no name is given.
const defaultServiceName = "nats-server"

// serviceName is the name given to the Windows service dispatcher; see
// SetServiceName.
var serviceName atomic.Value

// SetServiceName changes the Windows service name from "nats-server", for
// embedders that register several instances; call it before Run. For a
// service alone in its process the service manager dispatches by process,
// so the name it was created with (sc.exe create <name>) is what operators
// pass to `-sl <cmd>=<name>`. Other platforms have no service manager and
// only record it.
func SetServiceName(name string) { serviceName.Store(name) }

func currentServiceName() string {
	if n, ok := serviceName.Load().(string); ok && n != "" {
		return n
	}
	return defaultServiceName
}

// Service control codes. Stop and ParamChange are the Windows
// SERVICE_CONTROL_* values; 128 and 129 are user-defined codes (the range
// 128-255 is reserved for services) that the reference uses for reopening
// the log and for lame duck mode, so `sc.exe control nats-server 128` works.
const (
	svcCodeStop        uint32 = 1
	svcCodeParamChange uint32 = 6
	svcCodeReopenLog   uint32 = 128
	svcCodeLameDuck    uint32 = 129
)

// serviceCodes maps -sl commands to service control codes. stop, quit and
// term all ask the service manager to stop the service: it has no kill.
var serviceCodes = map[string]uint32{
	"stop":   svcCodeStop,
	"quit":   svcCodeStop,
	"term":   svcCodeStop,
	"reload": svcCodeParamChange,
	"reopen": svcCodeReopenLog,
	"ldm":    svcCodeLameDuck,
}

// parseServiceSignal turns an -sl argument into the service to control and
// the control code: "cmd" or "cmd=<service name>".
func parseServiceSignal(arg string) (name string, code uint32, err error) {
	cmd, name, err := parseSignalArg(arg)
	if err != nil {
		return "", 0, err
	}
	code, ok := serviceCodes[cmd]
	if !ok {
		return "", 0, errUnknownSignal(cmd)
	}
	if name == "" {
		name = defaultServiceName
	}
	return name, code, nil
}

// startupDelayEnv overrides how long the service waits for the server to be
// ready before reporting a failed start to the service manager (a large
// JetStream store can take longer than the default).
const startupDelayEnv = "NATS_STARTUP_DELAY"

const defaultStartupDelay = 10 * time.Second

// startupDelay reads NATS_STARTUP_DELAY (a Go duration such as "30s"); a bad
// value is reported and the default used, so a typo never stops a service.
func startupDelay(getenv func(string) string) (time.Duration, error) {
	v := strings.TrimSpace(getenv(startupDelayEnv))
	if v == "" {
		return defaultStartupDelay, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return defaultStartupDelay, fmt.Errorf("invalid %s value %q, using %v", startupDelayEnv, v, defaultStartupDelay)
	}
	return d, nil
}

// dockerizedEnv set to "1" makes the server run as a plain process even where
// the service manager could be asked, as in Windows containers.
const dockerizedEnv = "NATS_DOCKERIZED"

func runAsPlainProcess(getenv func(string) string) bool { return getenv(dockerizedEnv) == "1" }

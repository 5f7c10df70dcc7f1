package loadgen

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// clockTick is the unit of utime/stime in /proc/<pid>/stat. The kernel
// reports them in USER_HZ, which is part of the ABI and 100 on every Linux
// architecture (getconf CLK_TCK), whatever the kernel's own HZ.
const clockTick = 10 * time.Millisecond

// cpuSample is CPU time consumed so far, user plus system.
type cpuSample struct {
	server time.Duration // of Options.ServerPID; 0 when not measured
	self   time.Duration // of this process
}

func sampleCPU(pid int) (cpuSample, error) {
	var s cpuSample
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return s, fmt.Errorf("loadgen: own CPU time: %w", err)
	}
	s.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	if pid == 0 {
		return s, nil
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return s, fmt.Errorf("loadgen: server CPU time: %w", err)
	}
	ticks, err := parseProcStat(b)
	if err != nil {
		return s, fmt.Errorf("loadgen: server CPU time of pid %d: %w", pid, err)
	}
	s.server = time.Duration(ticks) * clockTick
	return s, nil
}

// parseProcStat returns utime+stime, in clock ticks, from the contents of
// /proc/<pid>/stat. The command name (field 2) is in parentheses and may hold
// spaces and parentheses itself, so fields are counted from the last ')'.
func parseProcStat(b []byte) (uint64, error) {
	end := bytes.LastIndexByte(b, ')')
	if end < 0 {
		return 0, fmt.Errorf("no command name in %q", truncate(b))
	}
	// After ")" come fields 3 (state) onwards; utime is 14 and stime 15.
	fields := bytes.Fields(b[end+1:])
	const utime, stime = 14 - 3, 15 - 3
	if len(fields) <= stime {
		return 0, fmt.Errorf("%d fields after the command name, want more than %d", len(fields), stime)
	}
	u, err := strconv.ParseUint(string(fields[utime]), 10, 63)
	if err != nil {
		return 0, fmt.Errorf("utime: %w", err)
	}
	s, err := strconv.ParseUint(string(fields[stime]), 10, 63)
	if err != nil {
		return 0, fmt.Errorf("stime: %w", err)
	}
	if u+s >= 1<<63/uint64(clockTick) {
		return 0, fmt.Errorf("CPU time %d+%d ticks out of range", u, s)
	}
	return u + s, nil
}

func truncate(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

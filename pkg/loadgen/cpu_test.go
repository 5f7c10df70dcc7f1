package loadgen

import (
	"os"
	"strings"
	"testing"
)

// A real line from /proc/<pid>/stat, utime 1234 and stime 56.
const statLine = "4242 (extproc-trivial) S 1 4242 4242 0 -1 4194560 3456 0 0 0 1234 56 0 0 20 0 9 0 12345 1300000000 4000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"

func TestParseProcStat(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    uint64
		wantErr bool
	}{
		{name: "plain", in: statLine, want: 1290},
		{name: "command with spaces and parens", in: strings.Replace(statLine, "(extproc-trivial)", "(a) b (c)", 1), want: 1290},
		{name: "no command", in: "4242 S 1", wantErr: true},
		{name: "truncated", in: "4242 (x) S 1 2 3 4 5 6 7 8 9 10", wantErr: true},
		{name: "not a number", in: strings.Replace(statLine, " 1234 ", " 12x4 ", 1), wantErr: true},
		{name: "negative", in: strings.Replace(statLine, " 56 ", " -56 ", 1), wantErr: true},
		{name: "out of range", in: strings.Replace(statLine, " 1234 ", " 9223372036854775807 ", 1), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProcStat([]byte(tt.in))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("parseProcStat = %d, %v; want %d, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestSampleCPU(t *testing.T) {
	t.Run("own process", func(t *testing.T) {
		// Burn some CPU so at least one clock tick is on the books.
		x := 0
		for i := range 50_000_000 {
			x ^= i * i
		}
		s, err := sampleCPU(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if s.self <= 0 || s.server <= 0 {
			t.Fatalf("sample %+v (x=%d)", s, x)
		}
	})
	t.Run("no such process", func(t *testing.T) {
		if _, err := sampleCPU(1 << 30); err == nil {
			t.Fatal("want an error for a missing pid")
		}
	})
}

func FuzzParseProcStat(f *testing.F) {
	f.Add([]byte(statLine))
	f.Add([]byte("1 ((() ) ) S 0 0 0 0 0 0 0 0 0 0 5 6 7"))
	f.Add([]byte(")"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ticks, err := parseProcStat(b)
		if err != nil {
			return
		}
		// Whatever parsed must survive being turned into a duration.
		if d := int64(ticks) * int64(clockTick); d < 0 {
			t.Fatalf("%d ticks overflow", ticks)
		}
	})
}

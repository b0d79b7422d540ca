package main

import (
	"fmt"
	"strconv"
	"strings"
)

// dataMode is how reads of a group's streams and order are cut (SPEC §6.2).
type dataMode int

const (
	dataMessage dataMode = iota
	dataCoalesce
	dataStatic
)

// replayMode is where a new reader starts (SPEC §6.1).
type replayMode int

const (
	replayOff replayMode = iota
	replayLast
	replayAll
)

// waitMode is when a write is answered (SPEC §5.3).
type waitMode int

const (
	waitOff waitMode = iota
	waitOne
	waitAll
)

var (
	dataNames   = []string{"message", "coalesce", "static"}
	replayNames = []string{"off", "last", "all"}
	waitNames   = []string{"off", "one", "all"}
)

// depth is a history limit: count messages, or bytes when inBytes.
// Zero means no limit but the server's cap (SPEC §7.2).
type depth struct {
	n       int64
	inBytes bool
}

func (d depth) String() string {
	if d.n == 0 {
		return "0"
	}
	if !d.inBytes {
		return strconv.FormatInt(d.n, 10)
	}
	return formatSize(d.n)
}

// config is a group's configuration as ctl reads and writes it.
type config struct {
	data   dataMode
	replay replayMode
	depth  depth
	wait   waitMode
}

// String is the text a read of ctl returns: one command a line, in
// the form a write accepts (SPEC §4.1).
func (c config) String() string {
	return fmt.Sprintf("data %s\nreplay %s\ndepth %v\nwait %s\n",
		dataNames[c.data], replayNames[c.replay], c.depth, waitNames[c.wait])
}

// ctlStep is one parsed ctl line: a setting, which gives the whole
// configuration after it, or an action on the history.
type ctlStep struct {
	cfg    config
	verb   string // "clear" or "eof" for actions; "" for a setting
	stream string // eof's stream; "" for all
}

// parseCtl parses a whole ctl write, starting from cfg, and returns
// its steps in order. At the first line that does not parse it stops
// with that line's error and the steps before it, whose eof lines the
// caller checks: the first bad line names the error, and a write is
// all or nothing (SPEC §4.2).
func parseCtl(text string, cfg config) ([]ctlStep, error) {
	var steps []ctlStep
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		var ok bool
		step := ctlStep{}
		switch f[0] {
		case "data":
			ok = len(f) == 2 && setEnum(&cfg.data, dataNames, f[1])
		case "replay":
			ok = len(f) == 2 && setEnum(&cfg.replay, replayNames, f[1])
		case "wait":
			ok = len(f) == 2 && setEnum(&cfg.wait, waitNames, f[1])
		case "depth":
			if len(f) == 2 {
				cfg.depth, ok = parseDepth(f[1])
			}
		case "clear":
			ok, step.verb = len(f) == 1, "clear"
		case "eof":
			ok, step.verb = len(f) <= 2, "eof"
			if len(f) == 2 {
				step.stream = f[1]
			}
		default:
			return steps, fsError(fmt.Sprintf("unknown control message %q", strings.TrimSpace(line)))
		}
		if !ok {
			return steps, fsError(ctlUsage[f[0]])
		}
		step.cfg = cfg
		steps = append(steps, step)
	}
	return steps, nil
}

var ctlUsage = map[string]string{
	"data":   "usage: data message|coalesce|static",
	"replay": "usage: replay off|last|all",
	"depth":  "usage: depth count|size",
	"wait":   "usage: wait off|one|all",
	"clear":  "usage: clear",
	"eof":    "usage: eof [stream]",
}

func setEnum[T ~int](p *T, names []string, s string) bool {
	for i, n := range names {
		if n == s {
			*p = T(i)
			return true
		}
	}
	return false
}

// parseDepth parses "100" (messages) or "100b", "64K", "1M", "2G" (bytes).
func parseDepth(s string) (depth, bool) {
	if digits(s) {
		n, err := strconv.ParseInt(s, 10, 64)
		return depth{n: n}, err == nil
	}
	n, ok := parseSize(s, true)
	if n == 0 {
		return depth{}, ok
	}
	return depth{n: n, inBytes: true}, ok
}

var sizeUnits = []struct {
	suffix string
	mult   int64
}{{"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"b", 1}}

// parseSize parses a byte count with suffix b, K, M or G (1K = 1024).
// Without needSuffix a bare number is bytes too.
func parseSize(s string, needSuffix bool) (int64, bool) {
	mult := int64(1)
	num := s
	found := false
	for _, u := range sizeUnits {
		if strings.HasSuffix(s, u.suffix) {
			num, mult, found = strings.TrimSuffix(s, u.suffix), u.mult, true
			break
		}
	}
	if !found && needSuffix {
		return 0, false
	}
	if !digits(num) {
		return 0, false
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > (1<<62)/mult {
		return 0, false
	}
	return n * mult, true
}

// digits says whether s is a decimal number with no sign.
func digits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// formatSize is the shortest exact form of n bytes.
func formatSize(n int64) string {
	for _, u := range sizeUnits {
		if n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10) + "b"
}

// ctl applies a write by uid at mtime to group g's ctl file, all or
// nothing (SPEC §4).
func (t *tree) ctl(g *node, text, uid string, mtime uint32) error {
	// The error is the first bad line's: an eof naming no stream may
	// come before a line that does not parse.
	steps, err := parseCtl(text, g.q.cfg)
	for _, st := range steps {
		if st.verb == "eof" && st.stream != "" {
			if s := g.byName[st.stream]; s == nil || s.kind != kStream {
				return errNotExist
			}
		}
	}
	if err != nil {
		return err
	}
	// A ctl write logs its C record alone, and so may use the room kept
	// for changes that free history (SPEC §11.3), unless it turns replay
	// on: then the messages the group retained are logged too.
	room := t.log.roomToFree
	need := 64 + len(uid)
	q := g.q
	if len(steps) > 0 && q.cfg.replay == replayOff && steps[len(steps)-1].cfg.replay != replayOff {
		need += int(q.bytes) + 32*q.count // its messages are logged now
		room = t.log.room
	}
	for _, st := range steps {
		if st.verb == "" && st.cfg.replay != replayAll {
			// Messages may leave from the middle of the history, a
			// D record each (replay last keeps a quiet stream's
			// newest at the head).
			need += q.count * dropSize(q)
			break
		}
	}
	if err := room(need); err != nil {
		return err
	}
	for _, st := range steps {
		var s *streamq
		if st.stream != "" {
			s = g.byName[st.stream].sq
		}
		g.q.apply(st, s)
	}
	g.ctl.mtime, g.ctl.muid = mtime, uid
	t.log.configured(g)
	return nil
}

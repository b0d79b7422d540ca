package mqclient

import (
	"bufio"
	"errors"
	"io"
	"path"
	"slices"
	"strings"

	"9fans.net/go/plan9"
)

// A Follower reads messages of some of a group's streams in the order
// they entered the group, as listed by its order file (SPEC §6.3).
//
// Each message is taken with a single read of FS.MsgSize bytes. In
// message mode a read returns bytes of one message only (SPEC §6.2),
// and every 9P client cuts its writes at its own iounit (SPEC §5.2),
// so one read of the largest count our connection carries returns
// exactly one whole message, even one of exactly that many bytes
// followed by another. Reading on while a read comes back full would
// instead join such messages, which clients make whenever they split a
// large write, and then wait for a message order has not yet listed.
// The cost is with a writer whose msize is larger than ours: the rest
// of a message longer than our read comes, still in the stream's
// order, with the stream's next message.
type Follower struct {
	fs      FS
	group   string
	order   *bufio.Reader
	orderf  File
	streams map[string]*stream
	buf     []byte
	pending string          // an entry of order read ahead, with its newline
	live    bool            // readers start after what is held (FollowLive)
	held    map[string]bool // with FollowLive: which streams held messages as they were opened

	// Lost, when set, is told of each "reader fell behind" error
	// (SPEC §7.3); reading goes on after it.
	Lost func(error)
}

type stream struct {
	f File
	// stale is set when order skipped entries this stream's reader
	// may still be behind on: its next "fell behind" error then moves
	// it to the entry order resumed at, rather than past it.
	stale bool
}

// Follow opens the named streams of group, a group that replays all,
// and its order file. Order is opened first: messages dropped before
// a stream is opened (depth, the cap) then show as a loss order tells
// of at its first read, and the streams are opened again there (see
// rejoin), rather than as losses of the streams' own, which would be
// taken for their entries' messages being dropped.
func Follow(fs FS, group string, names []string) (*Follower, error) {
	return open(fs, group, names, false)
}

// open opens group's order file and named streams; for a live
// Follower, streams first (see FollowLive).
func open(fs FS, group string, names []string, live bool) (*Follower, error) {
	f := &Follower{fs: fs, group: group, streams: make(map[string]*stream), live: live}
	if !live {
		if err := f.openOrder(); err != nil {
			return nil, err
		}
	}
	for _, name := range names {
		if f.streams[name] != nil {
			// Named twice: a second reader would never be read,
			// and would hold the group's history back.
			continue
		}
		sf, err := fs.Open(path.Join(group, name), plan9.OREAD)
		if err != nil {
			f.Close()
			return nil, PathErr(path.Join(group, name), err)
		}
		f.streams[name] = &stream{f: sf}
	}
	if live {
		if err := f.openOrder(); err != nil {
			return nil, err
		}
	}
	f.buf = make([]byte, fs.MsgSize()) // known once files are open
	return f, nil
}

func (f *Follower) openOrder() error {
	of, err := f.fs.Open(path.Join(f.group, "order"), plan9.OREAD)
	if err != nil {
		f.Close()
		return PathErr(path.Join(f.group, "order"), err)
	}
	f.orderf = of
	f.order = bufio.NewReaderSize(of, 512)
	return nil
}

// liveTries bounds how often FollowLive opens the files again.
const liveTries = 100

// FollowLive is Follow for a group that does not replay all, whose
// readers start after what it holds when they open (SPEC §6.1). There
// a message written to a followed stream while the files are being
// opened is one its stream holds but order does not list, and that
// stream's every message would then be taken for the entry of the
// next. So the files are opened again until no followed stream's
// qid.vers moved meanwhile: once on a Unix mount, which does not tell
// it, and at most liveTries times. The streams are opened first, so
// that if that fails a stream is ahead of order, rather than order
// listing a message its stream will never give.
func FollowLive(fs FS, group string, names []string) (*Follower, error) {
	for try := 1; ; try++ {
		before := versions(fs, group, names)
		f, err := open(fs, group, names, true)
		if err != nil {
			return nil, err
		}
		after := versions(fs, group, names)
		if try == liveTries || slices.Equal(before, after) {
			f.held = make(map[string]bool)
			for i, name := range names {
				f.held[name] = after[i].held
			}
			return f, nil
		}
		f.Close()
	}
}

// streamVers is what FollowLive knows of a stream: its qid.vers, 0
// when that cannot be told, and whether it holds messages.
type streamVers struct {
	vers uint32
	held bool
}

// versions is streamVers of each of group's named streams.
func versions(fs FS, group string, names []string) []streamVers {
	vs := make([]streamVers, len(names))
	for i, name := range names {
		if d, err := fs.Stat(path.Join(group, name)); err == nil {
			vs[i] = streamVers{d.Vers, d.Length > 0}
		}
	}
	return vs
}

// ErrHungup is what Next returns once the connection to the server
// has failed, in Plan 9's words: the end of file or error a read gets
// then does not mean the group was removed.
var ErrHungup = errors.New("i/o on hungup channel")

// Next returns the next message of a followed stream and the stream's
// name. Its data is valid until the next call. When the group is
// removed it returns io.EOF; when the connection fails, ErrHungup.
func (f *Follower) Next() (name string, data []byte, err error) {
	name, data, err = f.next()
	if err != nil {
		select {
		case <-Lost(f.fs):
			err = ErrHungup
		default:
		}
	}
	return name, data, err
}

func (f *Follower) next() (name string, data []byte, err error) {
	for {
		line, err := f.entry()
		if err != nil {
			if IsFellBehind(err) {
				f.lost(err)
				if err := f.rejoin(); err != nil {
					return "", nil, err
				}
				continue
			}
			return "", nil, err
		}
		name := strings.TrimSuffix(line, "\n")
		s, ok := f.streams[name]
		if !ok {
			continue
		}
		data, err := f.read(name, s)
		switch {
		case err == errSkip:
			continue
		case err != nil:
			return "", nil, err
		}
		return name, data, nil
	}
}

func (f *Follower) entry() (string, error) {
	if line := f.pending; line != "" {
		f.pending = ""
		return line, nil
	}
	return f.order.ReadString('\n')
}

// AlignLast lines the streams up with order in a group whose replay is
// last (SPEC §6.1). There order starts at the group's newest entry but
// each stream at its own newest message, which for every stream but
// the one that entry names was written before it and so has no entry
// to come: those messages are read and dropped. A message written
// while the files are being opened would leave a stream out of line:
// FollowLive, which made f, sees to that where it can, and tells which
// streams held messages as they were opened: one that gets its first
// message since holds nothing to drop.
func (f *Follower) AlignLast() error {
	var held []string
	for name := range f.streams {
		if f.held[name] {
			held = append(held, name)
		}
	}
	if len(held) == 0 {
		return nil // no history: all start together
	}
	line, err := f.order.ReadString('\n')
	if err != nil {
		return err
	}
	f.pending = line
	for _, name := range held {
		if name+"\n" == line {
			continue
		}
		if _, err := f.streams[name].f.Read(f.buf); err != nil && err != io.EOF {
			return err
		}
	}
	return nil
}

// rejoin brings the streams to where order resumed after it lost
// entries (SPEC §7.3). In a group that replays all, a file opened now
// starts at the oldest message held, where order resumed; so the
// streams are opened again, and their own losses, which came at
// moments that cannot be matched with order's, go with the files they
// were told to. Should order lose more meanwhile, its next read says
// so, and they are opened again. Where a reader starts after what is
// held (FollowLive), each stream is marked stale instead: its next
// loss moves it to the entry order resumed at.
func (f *Follower) rejoin() error {
	for name, s := range f.streams {
		if f.live {
			s.stale = true
			continue
		}
		s.f.Close()
		sf, err := f.fs.Open(path.Join(f.group, name), plan9.OREAD)
		switch {
		case IsNotExist(err):
			delete(f.streams, name) // removed
		case err != nil:
			return PathErr(path.Join(f.group, name), err)
		default:
			s.f, s.stale = sf, false
		}
	}
	return nil
}

var errSkip = errors.New("skip entry")

// read takes the message of the order entry just read from stream s.
func (f *Follower) read(name string, s *stream) ([]byte, error) {
	for {
		n, err := s.f.Read(f.buf)
		if n > 0 {
			s.stale = false
			return f.buf[:n], nil
		}
		switch {
		case err == nil || err == io.EOF:
			// The entry's message is there unless the stream went;
			// else this was an eof written to ctl, and it comes next.
			if f.fs.Gone(s.f, path.Join(f.group, name)) {
				s.f.Close()
				delete(f.streams, name)
				return nil, errSkip
			}
		case IsFellBehind(err):
			f.lost(err)
			if !s.stale {
				// The entry's message was dropped, and order
				// will resume where this stream now is.
				return nil, errSkip
			}
			s.stale = false
		default:
			return nil, err
		}
	}
}

func (f *Follower) lost(err error) {
	if f.Lost != nil {
		f.Lost(err)
	}
}

// Close closes the files the Follower opened.
func (f *Follower) Close() error {
	for _, s := range f.streams {
		s.f.Close()
	}
	if f.orderf != nil {
		f.orderf.Close()
	}
	return nil
}

// IsFellBehind says whether err is the one error a reader gets when
// messages it had not read were dropped (SPEC §7.3).
func IsFellBehind(err error) bool {
	return err != nil && strings.Contains(err.Error(), "reader fell behind")
}

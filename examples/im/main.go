// Command im is a small chat-message store built on SRDB: send a message,
// load the last N messages of a channel, page back before a message, fetch
// a message by its id, list a sender's messages and count a channel's
// messages, and — through a composite index on (channel_id, message_seq),
// the per-channel message sequence — read a range of a channel by
// message_seq and page back by message_seq. The demo also evolves the
// schema: the store is first written by "version 1" of the program
// (messageV1, no reply_to field, no composite index); version 2 (Message)
// opens it with EnsureTable, which adds the Nullable reply_to field (the old
// messages read it as nil) and builds the composite index over the stored
// messages. Version 2 also makes (channel_id, message_seq) unique and keeps
// each channel's last message_seq in a second table, "channels": SendTo
// inserts the message and upserts the channel's row in one atomic Batch, so
// the register and the messages never disagree, and two senders racing for
// the same message_seq cannot both win (the loser gets ErrDuplicateKey and
// retries). It runs in a temporary directory and exits.
//
//	go run ./examples/im
package main

import (
	"errors"
	"fmt"
	"log"
	"math/rand"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/srdb-go/srdb"
)

// Message is one chat message. The srdb tags give the schema: the channel,
// the sender and the message id are indexed; _seq and _time are the row's
// system fields, filled in by the store. MessageSeq numbers the messages of
// each channel 1, 2, 3, … (what a client shows and asks for); the composite
// index (channel_id, message_seq) is declared beside the struct (Open).
type Message struct {
	Seq        int64     `srdb:"_seq"`
	Time       time.Time `srdb:"_time"`
	ChannelID  string    `srdb:"channel_id;indexed"`
	MessageSeq int64     `srdb:"message_seq"`
	FromUID    string    `srdb:"from_uid;indexed"`
	MsgID      int64     `srdb:"msg_id;indexed"`
	MsgType    uint8     `srdb:"msg_type"`
	Payload    []byte    `srdb:"payload"`
	ReplyTo    *int64    `srdb:"reply_to"` // added in version 2: a pointer, so Nullable
}

// messageV1 is Message as version 1 of the program declared it, before
// reply_to and the composite index existed.
type messageV1 struct {
	ChannelID  string `srdb:"channel_id;indexed"`
	MessageSeq int64  `srdb:"message_seq"`
	FromUID    string `srdb:"from_uid;indexed"`
	MsgID      int64  `srdb:"msg_id;indexed"`
	MsgType    uint8  `srdb:"msg_type"`
	Payload    []byte `srdb:"payload"`
}

// Channel is a channel's row in the register: the last message_seq handed
// out. channel_id is its unique key (Upsert finds the row by it).
type Channel struct {
	ChannelID string `srdb:"channel_id"`
	LastSeq   int64  `srdb:"last_seq"`
}

// Store keeps messages in one SRDB table and the channels' register in
// another.
type Store struct {
	db    *srdb.Database
	msgs  *srdb.Table
	chans *srdb.Table
}

// Open opens (or creates) a store in dir. A store written by an earlier
// version of Message gains the fields added since (they must be pointers,
// i.e. Nullable) and the unique composite index, built over the stored
// messages (EnsureTable fails with ErrDuplicateKey should two stored
// messages share a (channel_id, message_seq)).
func Open(dir string) (*Store, error) {
	s, err := openWith(dir, Message{}, srdb.WithUniqueIndex("channel_id", "message_seq"))
	if err != nil {
		return nil, err
	}
	fields, err := srdb.StructToFields(Channel{})
	if err == nil {
		var schema *srdb.Schema
		if schema, err = srdb.NewSchema("channels", fields, srdb.WithUniqueIndex("channel_id")); err == nil {
			s.chans, err = s.db.EnsureTable("channels", schema)
		}
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// openWith opens the store with the schema of the struct row and the
// schema options opts.
func openWith(dir string, row any, opts ...srdb.SchemaOption) (*Store, error) {
	db, err := srdb.Open(dir, nil)
	if err != nil {
		return nil, err
	}
	fields, err := srdb.StructToFields(row)
	if err == nil {
		var schema *srdb.Schema
		if schema, err = srdb.NewSchema("messages", fields, opts...); err == nil {
			var msgs *srdb.Table
			if msgs, err = db.EnsureTable("messages", schema); err == nil {
				return &Store{db: db, msgs: msgs}, nil
			}
		}
	}
	db.Close()
	return nil, err
}

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }

// SendTo stores a message in channel with the channel's next message_seq
// and returns it. The message and the channel's new last_seq are one atomic
// Batch. Two senders that read the same last_seq both build message_seq
// last+1: the unique index lets one commit and refuses the other
// (ErrDuplicateKey), which reads the register again and retries.
func (s *Store) SendTo(channel, from string, msgID int64, payload []byte, replyTo *int64) (Message, error) {
	for attempt := 1; ; attempt++ {
		last, err := s.LastSeq(channel)
		if err != nil {
			return Message{}, err
		}
		m := Message{ChannelID: channel, MessageSeq: last + 1, FromUID: from, MsgID: msgID, Payload: payload, ReplyTo: replyTo}
		seqs, err := s.db.NewBatch().
			Insert("messages", m).
			Upsert("channels", Channel{ChannelID: channel, LastSeq: last + 1}).
			Commit()
		if errors.Is(err, srdb.ErrDuplicateKey) && attempt < 100 {
			continue // another sender took last+1 first
		}
		if err != nil {
			return Message{}, err
		}
		m.Seq = seqs[0]
		return m, nil
	}
}

// LastSeq returns the last message_seq of a channel (0 for a new one).
func (s *Store) LastSeq(channel string) (int64, error) {
	var c Channel
	err := s.chans.Query().Eq("channel_id", channel).Scan(&c)
	if errors.Is(err, srdb.ErrNotFound) {
		return 0, nil
	}
	return c.LastSeq, err
}

// RegisterChannels fills the register from the messages: for each channel
// the newest message by message_seq (a backward range of the composite
// index stopped after one row), all upserted in one Batch.
func (s *Store) RegisterChannels(channels []string) error {
	b := s.db.NewBatch()
	for _, ch := range channels {
		var newest []Message
		if err := s.msgs.Query().Eq("channel_id", ch).OrderByDesc("message_seq").Limit(1).Scan(&newest); err != nil {
			return err
		}
		if len(newest) == 1 {
			b.Upsert("channels", Channel{ChannelID: ch, LastSeq: newest[0].MessageSeq})
		}
	}
	_, err := b.Commit()
	return err
}

// Last returns the last n messages of a channel, oldest first.
func (s *Store) Last(channel string, n int) ([]Message, error) {
	return s.page(s.msgs.Query().Eq("channel_id", channel), n)
}

// Before returns the n messages of a channel sent before the message with
// seq before, oldest first: the page above the oldest one on screen.
func (s *Store) Before(channel string, before int64, n int) ([]Message, error) {
	return s.page(s.msgs.Query().Eq("channel_id", channel).Lt("_seq", before), n)
}

// page reads the newest n messages of q and returns them oldest first.
func (s *Store) page(q *srdb.Query, n int) ([]Message, error) {
	var out []Message
	if err := q.OrderByDesc("_seq").Limit(n).Scan(&out); err != nil {
		return nil, err
	}
	slices.Reverse(out)
	return out, nil
}

// Range returns the messages of a channel whose message_seq is in
// [from, to], in message_seq order: one forward range of the composite
// index (channel_id, message_seq).
func (s *Store) Range(channel string, from, to int64) ([]Message, error) {
	var out []Message
	err := s.msgs.Query().Eq("channel_id", channel).Between("message_seq", from, to).OrderBy("message_seq").Scan(&out)
	return out, err
}

// BeforeSeq returns the n messages of a channel before message_seq before,
// oldest first: a backward range of the composite index that stops after n
// rows.
func (s *Store) BeforeSeq(channel string, before int64, n int) ([]Message, error) {
	var out []Message
	q := s.msgs.Query().Eq("channel_id", channel).Lt("message_seq", before).OrderByDesc("message_seq").Limit(n)
	if err := q.Scan(&out); err != nil {
		return nil, err
	}
	slices.Reverse(out)
	return out, nil
}

// ByMsgID returns the message with the given id.
func (s *Store) ByMsgID(id int64) (Message, error) {
	var m Message
	err := s.msgs.Query().Eq("msg_id", id).Scan(&m)
	return m, err
}

// BySender returns the newest messages of a sender, newest first.
func (s *Store) BySender(uid string, limit int) ([]Message, error) {
	var out []Message
	err := s.msgs.Query().Eq("from_uid", uid).OrderByDesc("_seq").Limit(limit).Scan(&out)
	return out, err
}

// Count returns the number of messages in a channel.
func (s *Store) Count(channel string) (int, error) {
	return s.msgs.Query().Eq("channel_id", channel).Count()
}

func main() {
	dir, err := os.MkdirTemp("", "srdb-im-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := demo(dir); err != nil {
		log.Fatal(err)
	}
}

func demo(dir string) error {
	// Version 1 of the program writes the messages.
	v1, err := openWith(dir, messageV1{})
	if err != nil {
		return err
	}
	const messages, channels, users = 20_000, 50, 300
	rng := rand.New(rand.NewSource(1))
	start := time.Now()
	batch := make([]messageV1, 0, 500)
	nextSeq := map[string]int64{} // per-channel message_seq
	for i := 1; i <= messages; i++ {
		ch := fmt.Sprintf("room-%02d", rng.Intn(channels))
		nextSeq[ch]++
		batch = append(batch, messageV1{
			ChannelID:  ch,
			MessageSeq: nextSeq[ch],
			FromUID:    fmt.Sprintf("user-%03d", rng.Intn(users)),
			MsgID:      int64(1_000_000 + i),
			MsgType:    uint8(rng.Intn(3)),
			Payload:    fmt.Appendf(nil, "message %d", i),
		})
		if len(batch) == cap(batch) {
			if _, err := v1.msgs.Insert(batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	fmt.Printf("sent %d messages to %d channels in %v\n", messages, channels, time.Since(start).Round(time.Millisecond))
	if err := v1.Close(); err != nil {
		return err
	}

	// Version 2 opens the same store: EnsureTable adds reply_to and builds
	// the composite index over the 20,000 messages.
	start = time.Now()
	store, err := Open(dir)
	if err != nil {
		return err
	}
	defer store.Close()
	fmt.Printf("schema after EnsureTable (%v): %v\n", time.Since(start).Round(time.Millisecond), store.msgs.Schema())
	fmt.Printf("indexes: %v (unique: %v)\n", store.msgs.Indexes(), store.msgs.Schema().UniqueIndexes())
	var rooms []string
	for ch := range nextSeq {
		rooms = append(rooms, ch)
	}
	slices.Sort(rooms)
	if err := store.RegisterChannels(rooms); err != nil {
		return err
	}
	last07, err := store.LastSeq("room-07")
	if err != nil {
		return err
	}
	fmt.Printf("registered %d channels; room-07's last message_seq is %d\n", len(rooms), last07)
	parent := int64(1_012_345)
	if _, err := store.SendTo("room-07", "user-001", 2_000_001, []byte("a reply"), &parent); err != nil {
		return err
	}
	// Eight senders race for room-07's next message_seqs: each message
	// gets its own, the register ends at the highest.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				if _, err := store.SendTo("room-07", fmt.Sprintf("user-%03d", g), int64(3_000_000+g*100+i), []byte("racing"), nil); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return err
	}
	after, err := store.LastSeq("room-07")
	if err != nil {
		return err
	}
	n07, err := store.msgs.Query().Eq("channel_id", "room-07").Gt("message_seq", last07).Count()
	if err != nil {
		return err
	}
	fmt.Printf("8 senders × 10 messages to room-07: message_seq %d → %d, %d new messages\n", last07, after, n07)
	if after != last07+81 || n07 != 81 {
		return fmt.Errorf("room-07: last_seq %d and %d new messages, want %d and 81", after, n07, last07+81)
	}
	// A re-delivered message (same channel and message_seq) is refused.
	dup := Message{ChannelID: "room-07", MessageSeq: after, FromUID: "user-001", MsgID: 9, Payload: []byte("again")}
	if _, err := store.msgs.Insert(dup); !errors.Is(err, srdb.ErrDuplicateKey) {
		return fmt.Errorf("a duplicate message_seq should be refused, got %v", err)
	}
	fmt.Println("re-sending message_seq", after, "of room-07: refused (ErrDuplicateKey)")
	replies, err := store.msgs.Query().NotNull("reply_to").Count()
	if err != nil {
		return err
	}
	fmt.Printf("%d message has a reply_to; the %d older ones read it as NULL\n", replies, messages)

	show := func(title string, ms []Message) {
		fmt.Println(title)
		for _, m := range ms {
			fmt.Printf("  seq %-6d %s  %s #%-4d %-8s %s\n", m.Seq, m.Time.Format("15:04:05.000"), m.ChannelID, m.MessageSeq, m.FromUID, m.Payload)
		}
	}
	last, err := store.Last("room-07", 5)
	if err != nil {
		return err
	}
	show("last 5 messages of room-07:", last)
	if len(last) > 0 {
		older, err := store.Before("room-07", last[0].Seq, 5)
		if err != nil {
			return err
		}
		show("the 5 before them:", older)
	}
	mid, err := store.Range("room-07", 200, 204)
	if err != nil {
		return err
	}
	show("room-07 messages #200 to #204:", mid)
	if len(mid) != 5 || mid[0].MessageSeq != 200 || mid[4].MessageSeq != 204 {
		return fmt.Errorf("range by message_seq: got %d messages", len(mid))
	}
	back, err := store.BeforeSeq("room-07", mid[0].MessageSeq, 3)
	if err != nil {
		return err
	}
	show("the 3 before #200:", back)
	if len(back) != 3 || back[2].MessageSeq != 199 {
		return fmt.Errorf("page back by message_seq: got %d messages", len(back))
	}
	m, err := store.ByMsgID(1_012_345)
	if err != nil {
		return err
	}
	show("message 1012345:", []Message{m})
	if _, err := store.ByMsgID(42); !errors.Is(err, srdb.ErrNotFound) {
		return fmt.Errorf("message 42 should not exist, got %v", err)
	}
	mine, err := store.BySender("user-042", 3)
	if err != nil {
		return err
	}
	show("newest 3 messages of user-042:", mine)
	for _, ch := range []string{"room-00", "room-07", "room-49"} {
		n, err := store.Count(ch)
		if err != nil {
			return err
		}
		fmt.Printf("%s holds %d messages\n", ch, n)
	}
	plan, err := store.msgs.Query().Eq("channel_id", "room-07").OrderByDesc("_seq").Limit(20).Explain()
	if err != nil {
		return err
	}
	fmt.Printf("plan of \"last 20 of a channel\":\n%s", plan)
	plan, err = store.msgs.Query().Eq("channel_id", "room-07").Lt("message_seq", 200).OrderByDesc("message_seq").Limit(20).Explain()
	if err != nil {
		return err
	}
	fmt.Printf("plan of \"the 20 before #200\":\n%s", plan)
	return nil
}

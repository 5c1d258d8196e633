// Command rmq-go-peer drives the Apache RocketMQ Go client
// (github.com/apache/rocketmq-client-go/v2) as an interoperability peer and
// benchmark baseline for the rmq Rust client.
//
// Every subcommand prints machine-readable JSON lines on stdout; the client
// library's own logging goes to stderr at level "error" (override with
// --log-level). See README.md for the exact CLI.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/apache/rocketmq-client-go/v2/rlog"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // send failures, consume timeout, runtime errors
	exitUsage   = 2 // bad command line
)

var stdoutMu sync.Mutex

// emit writes one JSON object as a single line on stdout.
func emit(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"type": "error", "error": "json: " + err.Error()})
	}
	stdoutMu.Lock()
	defer stdoutMu.Unlock()
	os.Stdout.Write(append(b, '\n'))
}

// fail prints a JSON error line and exits with the given code.
func fail(code int, stage string, err error) {
	emit(map[string]any{"type": "error", "stage": stage, "error": err.Error()})
	os.Exit(code)
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage: rmq-go-peer <produce|consume|bench-send|bench-consume|bench-latency> [flags]
run 'rmq-go-peer <subcommand> -h' for the flags of a subcommand`)
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(exitUsage)
	}
	cmd, args := os.Args[1], os.Args[2:]
	switch cmd {
	case "produce":
		os.Exit(runProduce(args))
	case "consume":
		os.Exit(runConsume(args))
	case "bench-send":
		os.Exit(runBenchSend(args))
	case "bench-consume":
		os.Exit(runBenchConsume(args))
	case "bench-latency":
		os.Exit(runBenchLatency(args))
	case "-h", "--help", "help":
		usage()
		os.Exit(exitOK)
	default:
		fmt.Fprintf(os.Stderr, "unknown subcommand %q\n", cmd)
		usage()
		os.Exit(exitUsage)
	}
}

// ---------------------------------------------------------------- common

type commonFlags struct {
	namesrv  string
	group    string
	topic    string
	logLevel string
}

func (c *commonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.namesrv, "namesrv", "127.0.0.1:9876", "name server address(es), separated by ';' or ','")
	fs.StringVar(&c.group, "group", "", "producer/consumer group (required)")
	fs.StringVar(&c.topic, "topic", "", "topic (required)")
	fs.StringVar(&c.logLevel, "log-level", "error", "client library log level on stderr: debug|info|warn|error|fatal")
}

func (c *commonFlags) validate() error {
	if c.group == "" {
		return errors.New("--group is required")
	}
	if c.topic == "" {
		return errors.New("--topic is required")
	}
	if len(c.namesrvAddrs()) == 0 {
		return errors.New("--namesrv is empty")
	}
	return nil
}

func (c *commonFlags) namesrvAddrs() []string {
	var out []string
	for _, a := range strings.FieldsFunc(c.namesrv, func(r rune) bool { return r == ';' || r == ',' }) {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

func setupLogging(level string) {
	// The library's default logrus logger writes to stderr; only its level is
	// tuned so that stdout carries nothing but our JSON lines.
	rlog.SetLogLevel(level)
}

// parseFlags parses args, printing usage errors as JSON and exiting 2.
func parseFlags(fs *flag.FlagSet, args []string) {
	fs.SetOutput(os.Stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(exitOK)
		}
		fail(exitUsage, "flags", err)
	}
	if fs.NArg() > 0 {
		fail(exitUsage, "flags", fmt.Errorf("unexpected arguments: %v", fs.Args()))
	}
}

// propFlags collects repeated --prop k=v flags.
type propFlags struct {
	keys []string
	vals map[string]string
}

func (p *propFlags) String() string { return fmt.Sprint(p.vals) }

func (p *propFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("--prop wants k=v, got %q", s)
	}
	if p.vals == nil {
		p.vals = map[string]string{}
	}
	if _, dup := p.vals[k]; !dup {
		p.keys = append(p.keys, k)
	}
	p.vals[k] = v
	return nil
}

func newProducer(c *commonFlags, retry int, sendTimeout time.Duration, compressOver int) (rocketmq.Producer, error) {
	opts := []producer.Option{
		producer.WithNsResolver(primitive.NewPassthroughResolver(c.namesrvAddrs())),
		producer.WithRetry(retry),
		producer.WithGroupName(c.group),
		producer.WithSendMsgTimeout(sendTimeout),
	}
	if compressOver > 0 {
		opts = append(opts, producer.WithCompressMsgBodyOverHowmuch(compressOver))
	}
	p, err := rocketmq.NewProducer(opts...)
	if err != nil {
		return nil, err
	}
	if err := p.Start(); err != nil {
		return nil, err
	}
	return p, nil
}

func sendStatusName(s primitive.SendStatus) string {
	switch s {
	case primitive.SendOK:
		return "SEND_OK"
	case primitive.SendFlushDiskTimeout:
		return "FLUSH_DISK_TIMEOUT"
	case primitive.SendFlushSlaveTimeout:
		return "FLUSH_SLAVE_TIMEOUT"
	case primitive.SendSlaveNotAvailable:
		return "SLAVE_NOT_AVAILABLE"
	case primitive.SendUnknownError:
		return "UNKNOWN_ERROR"
	default:
		return fmt.Sprintf("STATUS_%d", int(s))
	}
}

func makeBody(str string, size int, seq int) []byte {
	if size > 0 {
		b := make([]byte, size)
		for i := range b {
			b[i] = 'a' + byte((i+seq)%26)
		}
		return b
	}
	return []byte(str)
}

// ---------------------------------------------------------------- produce

func runProduce(args []string) int {
	fs := flag.NewFlagSet("produce", flag.ContinueOnError)
	var c commonFlags
	c.register(fs)
	count := fs.Int("count", 1, "number of messages to send")
	tag := fs.String("tag", "", "message tag")
	keys := fs.String("keys", "", "comma-separated message keys")
	var props propFlags
	fs.Var(&props, "prop", "user property k=v (repeatable)")
	body := fs.String("body", "", "message body; '{i}' is replaced by the message index (default \"hello-{i}\")")
	bodySize := fs.Int("body-size", 0, "generate a body of N bytes (overrides --body)")
	delayLevel := fs.Int("delay-level", 0, "delay level (1..18), 0 = none")
	retry := fs.Int("retry", 2, "send retries")
	timeoutMs := fs.Int("send-timeout-ms", 3000, "send timeout in milliseconds")
	compressOver := fs.Int("compress-over", 0, "compress bodies larger than N bytes (0 = library default 4096)")
	parseFlags(fs, args)
	if err := c.validate(); err != nil {
		fail(exitUsage, "flags", err)
	}
	setupLogging(c.logLevel)

	p, err := newProducer(&c, *retry, time.Duration(*timeoutMs)*time.Millisecond, *compressOver)
	if err != nil {
		fail(exitFailure, "start", err)
	}
	defer p.Shutdown()

	bodyTmpl := *body
	if bodyTmpl == "" {
		bodyTmpl = "hello-{i}"
	}
	var keyList []string
	for _, k := range strings.Split(*keys, ",") {
		if k = strings.TrimSpace(k); k != "" {
			keyList = append(keyList, k)
		}
	}

	ok, failed := 0, 0
	start := time.Now()
	for i := 0; i < *count; i++ {
		msg := primitive.NewMessage(c.topic, makeBody(strings.ReplaceAll(bodyTmpl, "{i}", fmt.Sprint(i)), *bodySize, i))
		if *tag != "" {
			msg.WithTag(*tag)
		}
		if len(keyList) > 0 {
			msg.WithKeys(keyList)
		}
		for _, k := range props.keys {
			msg.WithProperty(k, props.vals[k])
		}
		if *delayLevel > 0 {
			msg.WithDelayTimeLevel(*delayLevel)
		}
		res, err := p.SendSync(context.Background(), msg)
		if err != nil {
			failed++
			emit(map[string]any{"type": "send", "index": i, "status": "ERROR", "error": err.Error()})
			continue
		}
		line := map[string]any{
			"type":        "send",
			"index":       i,
			"status":      sendStatusName(res.Status),
			"msgId":       res.MsgID,
			"offsetMsgId": res.OffsetMsgID,
			"queueOffset": res.QueueOffset,
		}
		if res.MessageQueue != nil {
			line["queueId"] = res.MessageQueue.QueueId
			line["brokerName"] = res.MessageQueue.BrokerName
			line["topic"] = res.MessageQueue.Topic
		}
		if res.RegionID != "" {
			line["regionId"] = res.RegionID
		}
		if res.Status == primitive.SendOK {
			ok++
		} else {
			failed++
		}
		emit(line)
	}
	emit(map[string]any{
		"type":        "summary",
		"sent":        ok,
		"errors":      failed,
		"elapsed_sec": time.Since(start).Seconds(),
	})
	if failed > 0 {
		return exitFailure
	}
	return exitOK
}

// ---------------------------------------------------------------- consume

func messageJSON(m *primitive.MessageExt) map[string]any {
	props := m.GetProperties()
	if props == nil {
		props = map[string]string{}
	}
	line := map[string]any{
		"type":                      "message",
		"topic":                     m.Topic,
		"tags":                      m.GetTags(),
		"keys":                      m.GetKeys(),
		"properties":                props,
		"body_base64":               base64.StdEncoding.EncodeToString(m.Body),
		"bodySize":                  len(m.Body),
		"msgId":                     m.MsgId,
		"offsetMsgId":               m.OffsetMsgId,
		"queueOffset":               m.QueueOffset,
		"bornTimestamp":             m.BornTimestamp,
		"bornHost":                  m.BornHost,
		"storeTimestamp":            m.StoreTimestamp,
		"storeHost":                 m.StoreHost,
		"storeSize":                 m.StoreSize,
		"commitLogOffset":           m.CommitLogOffset,
		"bodyCRC":                   m.BodyCRC,
		"reconsumeTimes":            m.ReconsumeTimes,
		"preparedTransactionOffset": m.PreparedTransactionOffset,
		"sysFlag":                   m.SysFlag,
		"compressed":                m.SysFlag&primitive.FlagCompressed == primitive.FlagCompressed,
		"flag":                      m.Flag,
	}
	if utf8.Valid(m.Body) {
		line["body"] = string(m.Body)
	}
	if m.Queue != nil {
		line["queueId"] = m.Queue.QueueId
		line["brokerName"] = m.Queue.BrokerName
	}
	return line
}

func runConsume(args []string) int {
	fs := flag.NewFlagSet("consume", flag.ContinueOnError)
	var c commonFlags
	c.register(fs)
	tagExpr := fs.String("tag-expr", "*", "tag subscription expression, e.g. \"TagA||TagB\"")
	sqlExpr := fs.String("sql", "", "SQL92 subscription expression (overrides --tag-expr; broker needs enablePropertyFilter=true)")
	expect := fs.Int("expect", 1, "exit 0 once this many distinct messages (by msgId) arrived")
	timeoutSec := fs.Float64("timeout-sec", 30, "give up after this many seconds")
	fromFirst := fs.Bool("from-first", false, "CONSUME_FROM_FIRST_OFFSET (default CONSUME_FROM_LAST_OFFSET)")
	broadcast := fs.Bool("broadcast", false, "broadcasting instead of clustering")
	reportAllocation := fs.Bool("report-allocation", false, "print an \"allocation\" line whenever the queues allocated to this consumer change")
	instance := fs.String("instance", "", "instance name (part of the client id; default: the library's)")
	lingerSec := fs.Float64("linger-sec", 0, "keep consuming (and printing) this many seconds after the expected count")
	parseFlags(fs, args)
	if err := c.validate(); err != nil {
		fail(exitUsage, "flags", err)
	}
	setupLogging(c.logLevel)

	from := consumer.ConsumeFromLastOffset
	if *fromFirst {
		from = consumer.ConsumeFromFirstOffset
	}
	model := consumer.Clustering
	if *broadcast {
		model = consumer.BroadCasting
	}
	opts := []consumer.Option{
		consumer.WithGroupName(c.group),
		consumer.WithNameServer(primitive.NamesrvAddr(c.namesrvAddrs())),
		consumer.WithConsumerModel(model),
		consumer.WithConsumeFromWhere(from),
	}
	if *reportAllocation {
		opts = append(opts, consumer.WithStrategy(reportingStrategy(consumer.AllocateByAveragely)))
	}
	if *instance != "" {
		opts = append(opts, consumer.WithInstance(*instance))
	}
	pc, err := rocketmq.NewPushConsumer(opts...)
	if err != nil {
		fail(exitFailure, "create", err)
	}

	selector := consumer.MessageSelector{Type: consumer.TAG, Expression: *tagExpr}
	if *sqlExpr != "" {
		selector = consumer.MessageSelector{Type: consumer.SQL92, Expression: *sqlExpr}
	}

	var (
		mu       sync.Mutex
		seen     = map[string]bool{}
		received = 0
		done     = make(chan struct{})
		doneOnce sync.Once
	)
	err = pc.Subscribe(c.topic, selector, func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		for _, m := range msgs {
			line := messageJSON(m)
			mu.Lock()
			received++
			id := m.MsgId
			if id == "" {
				id = m.OffsetMsgId
			}
			dup := seen[id]
			seen[id] = true
			distinct := len(seen)
			line["duplicate"] = dup
			// Emit under the lock: once any callback sees the expected
			// count, every counted message has been printed (callbacks run
			// concurrently, and main exits as soon as done is closed).
			emit(line)
			mu.Unlock()
			if distinct >= *expect {
				doneOnce.Do(func() { close(done) })
			}
		}
		return consumer.ConsumeSuccess, nil
	})
	if err != nil {
		fail(exitFailure, "subscribe", err)
	}
	start := time.Now()
	if err := pc.Start(); err != nil {
		fail(exitFailure, "start", err)
	}
	if *expect <= 0 {
		doneOnce.Do(func() { close(done) })
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	timer := time.NewTimer(time.Duration(*timeoutSec * float64(time.Second)))
	code := exitOK
	var reason string
	select {
	case <-done:
		if *lingerSec > 0 {
			select {
			case <-time.After(time.Duration(*lingerSec * float64(time.Second))):
			case <-sig:
			}
		}
	case <-timer.C:
		code, reason = exitFailure, "timeout"
	case s := <-sig:
		code, reason = exitFailure, "signal "+s.String()
	}
	elapsed := time.Since(start).Seconds()
	// Shutdown persists consumer offsets; bound it so a hung broker cannot
	// keep the process alive.
	shut := make(chan struct{})
	go func() { _ = pc.Shutdown(); close(shut) }()
	select {
	case <-shut:
	case <-time.After(10 * time.Second):
		fmt.Fprintln(os.Stderr, "consumer shutdown timed out")
	}

	mu.Lock()
	distinct, total := len(seen), received
	mu.Unlock()
	if code != exitOK {
		emit(map[string]any{
			"type":        "error",
			"stage":       "consume",
			"error":       reason,
			"expected":    *expect,
			"distinct":    distinct,
			"received":    total,
			"elapsed_sec": elapsed,
		})
		return code
	}
	emit(map[string]any{
		"type":        "summary",
		"expected":    *expect,
		"distinct":    distinct,
		"received":    total,
		"elapsed_sec": elapsed,
	})
	return exitOK
}

// allocationLine is one "allocation" line: the queues of a topic allocated
// to this consumer, sorted by broker name and queue id.
type allocationLine struct {
	Type   string            `json:"type"`
	Topic  string            `json:"topic"`
	Queues []allocationQueue `json:"queues"`
}

type allocationQueue struct {
	BrokerName string `json:"brokerName"`
	QueueId    int    `json:"queueId"`
}

// reportingStrategy wraps an allocation strategy: it returns what inner
// returns and prints an "allocation" line each time that result changes for
// a topic (the first result included). The retry topic %RETRY%<group> is
// allocated through the strategy too and is reported like any topic.
func reportingStrategy(inner consumer.AllocateStrategy) consumer.AllocateStrategy {
	var (
		mu   sync.Mutex
		last = map[string]string{}
	)
	return func(group, cid string, mqAll []*primitive.MessageQueue, cidAll []string) []*primitive.MessageQueue {
		result := inner(group, cid, mqAll, cidAll)
		if len(mqAll) == 0 {
			return result
		}
		line := allocationLine{Type: "allocation", Topic: mqAll[0].Topic, Queues: []allocationQueue{}}
		for _, mq := range result {
			line.Queues = append(line.Queues, allocationQueue{BrokerName: mq.BrokerName, QueueId: mq.QueueId})
		}
		sort.Slice(line.Queues, func(i, j int) bool {
			a, b := line.Queues[i], line.Queues[j]
			if a.BrokerName != b.BrokerName {
				return a.BrokerName < b.BrokerName
			}
			return a.QueueId < b.QueueId
		})
		key, _ := json.Marshal(line.Queues)
		mu.Lock()
		defer mu.Unlock()
		if last[line.Topic] != string(key) {
			last[line.Topic] = string(key)
			emit(line)
		}
		return result
	}
}

// ---------------------------------------------------------------- bench-send

func runBenchSend(args []string) int {
	fs := flag.NewFlagSet("bench-send", flag.ContinueOnError)
	var c commonFlags
	c.register(fs)
	bodySize := fs.Int("body-size", 1024, "body size in bytes")
	concurrency := fs.Int("concurrency", 1, "sending goroutines")
	batchSize := fs.Int("batch-size", 1, "messages per send: > 1 sends batches (SendSync with that many messages)")
	count := fs.Int64("count", 0, "total messages to send (0 = use --duration-sec)")
	durationSec := fs.Float64("duration-sec", 10, "run for this many seconds when --count is 0")
	warmup := fs.Int("warmup", 1, "messages sent (untimed) before the run, to fetch the route")
	tag := fs.String("tag", "", "message tag")
	retry := fs.Int("retry", 2, "send retries")
	timeoutMs := fs.Int("send-timeout-ms", 3000, "send timeout in milliseconds")
	compressOver := fs.Int("compress-over", 0, "compress bodies larger than N bytes (0 = library default 4096)")
	parseFlags(fs, args)
	if err := c.validate(); err != nil {
		fail(exitUsage, "flags", err)
	}
	if *concurrency < 1 {
		fail(exitUsage, "flags", errors.New("--concurrency must be >= 1"))
	}
	if *batchSize < 1 {
		fail(exitUsage, "flags", errors.New("--batch-size must be >= 1"))
	}
	if *count <= 0 && *durationSec <= 0 {
		fail(exitUsage, "flags", errors.New("need --count > 0 or --duration-sec > 0"))
	}
	setupLogging(c.logLevel)

	p, err := newProducer(&c, *retry, time.Duration(*timeoutMs)*time.Millisecond, *compressOver)
	if err != nil {
		fail(exitFailure, "start", err)
	}
	defer p.Shutdown()

	body := makeBody("", *bodySize, 0)
	newMsg := func() *primitive.Message {
		m := primitive.NewMessage(c.topic, body)
		if *tag != "" {
			m.WithTag(*tag)
		}
		return m
	}
	for i := 0; i < *warmup; i++ {
		if _, err := p.SendSync(context.Background(), newMsg()); err != nil {
			fail(exitFailure, "warmup", err)
		}
	}

	var (
		sent, errs, claimed atomic.Int64
		firstErr            atomic.Value
		latMu               sync.Mutex
		lats                []time.Duration
	)
	var ru0 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	deadline := time.Time{}
	start := time.Now()
	if *count <= 0 {
		deadline = start.Add(time.Duration(*durationSec * float64(time.Second)))
	}
	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		last := int64(0)
		for {
			select {
			case <-stopProgress:
				return
			case <-t.C:
				s := sent.Load()
				fmt.Fprintf(os.Stderr, "[bench-send] %.0fs sent=%d errors=%d last_sec=%d msg/s\n",
					time.Since(start).Seconds(), s, errs.Load(), s-last)
				last = s
			}
		}
	}()

	var wg sync.WaitGroup
	for w := 0; w < *concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 4096)
			batch := make([]*primitive.Message, *batchSize)
			for {
				if *count > 0 {
					if claimed.Add(int64(*batchSize)) > *count {
						break
					}
				} else if time.Now().After(deadline) {
					break
				}
				// Fresh messages for every send: the client writes
				// properties (UNIQ_KEY) into them.
				for i := range batch {
					batch[i] = newMsg()
				}
				n := int64(len(batch))
				t0 := time.Now()
				res, err := p.SendSync(context.Background(), batch...)
				if err == nil && res.Status == primitive.SendOK {
					sent.Add(n)
					local = append(local, time.Since(t0))
				} else {
					errs.Add(n)
					if err == nil {
						err = fmt.Errorf("send status %s", sendStatusName(res.Status))
					}
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
			latMu.Lock()
			lats = append(lats, local...)
			latMu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	close(stopProgress)
	<-progressDone

	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	pct := func(q float64) float64 {
		if len(lats) == 0 {
			return 0
		}
		idx := int(q * float64(len(lats)-1))
		return float64(lats[idx].Microseconds()) / 1000.0
	}
	out := map[string]any{
		"type":         "summary",
		"client":       "rocketmq-client-go/v2",
		"sent":         sent.Load(),
		"errors":       errs.Load(),
		"concurrency":  *concurrency,
		"batch_size":   *batchSize,
		"body_size":    *bodySize,
		"elapsed_sec":  elapsed,
		"msgs_per_sec": float64(sent.Load()) / elapsed,
		// CPU of the timed run only; *_total_sec include start-up and warm-up.
		"cpu_user_sec":       tvSec(ru.Utime) - tvSec(ru0.Utime),
		"cpu_sys_sec":        tvSec(ru.Stime) - tvSec(ru0.Stime),
		"cpu_user_total_sec": tvSec(ru.Utime),
		"cpu_sys_total_sec":  tvSec(ru.Stime),
		"max_rss_kib":        ru.Maxrss, // Linux reports kilobytes
		"lat_p50_ms":         pct(0.50),
		"lat_p99_ms":         pct(0.99),
		"lat_max_ms":         pct(1.0),
	}
	if e, ok := firstErr.Load().(string); ok {
		out["first_error"] = e
	}
	emit(out)
	if sent.Load() == 0 {
		return exitFailure
	}
	return exitOK
}

func tvSec(tv syscall.Timeval) float64 {
	return float64(tv.Sec) + float64(tv.Usec)/1e6
}

func rusageNow() syscall.Rusage {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru
}

// cpuDelta is the user and system CPU seconds spent between two getrusage
// readings.
func cpuDelta(from, to syscall.Rusage) (user, sys float64) {
	return tvSec(to.Utime) - tvSec(from.Utime), tvSec(to.Stime) - tvSec(from.Stime)
}

// shutdownBounded shuts a push consumer down (which persists its offsets),
// giving up after 10 s so a hung broker cannot keep the process alive.
func shutdownBounded(pc rocketmq.PushConsumer) {
	shut := make(chan struct{})
	go func() { _ = pc.Shutdown(); close(shut) }()
	select {
	case <-shut:
	case <-time.After(10 * time.Second):
		fmt.Fprintln(os.Stderr, "consumer shutdown timed out")
	}
}

// ---------------------------------------------------------------- bench-consume

// A mark is the wall time and CPU usage at one point of a run.
type mark struct {
	at time.Time
	ru syscall.Rusage
}

func markNow() mark { return mark{at: time.Now(), ru: rusageNow()} }

func runBenchConsume(args []string) int {
	fs := flag.NewFlagSet("bench-consume", flag.ContinueOnError)
	var c commonFlags
	c.register(fs)
	expect := fs.Int64("expect", 0, "stop once this many messages were delivered (required)")
	timeoutSec := fs.Float64("timeout-sec", 300, "give up after this many seconds")
	parseFlags(fs, args)
	if err := c.validate(); err != nil {
		fail(exitUsage, "flags", err)
	}
	if *expect < 1 {
		fail(exitUsage, "flags", errors.New("--expect must be >= 1"))
	}
	setupLogging(c.logLevel)

	// The library's defaults otherwise: 20 consume goroutines, one message
	// per handler call, pulls of 32.
	pc, err := rocketmq.NewPushConsumer(
		consumer.WithGroupName(c.group),
		consumer.WithNameServer(primitive.NamesrvAddr(c.namesrvAddrs())),
		consumer.WithConsumerModel(consumer.Clustering),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset),
	)
	if err != nil {
		fail(exitFailure, "create", err)
	}
	var (
		count       atomic.Int64
		marksMu     sync.Mutex
		first, last mark
		done        = make(chan struct{})
	)
	err = pc.Subscribe(c.topic, consumer.MessageSelector{Type: consumer.TAG, Expression: "*"},
		func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
			for range msgs {
				switch n := count.Add(1); {
				case n == 1 && n == *expect:
					marksMu.Lock()
					first = markNow()
					last = first
					marksMu.Unlock()
					close(done)
				case n == 1:
					marksMu.Lock()
					first = markNow()
					marksMu.Unlock()
				case n == *expect:
					m := markNow()
					marksMu.Lock()
					last = m
					marksMu.Unlock()
					close(done)
				}
			}
			return consumer.ConsumeSuccess, nil
		})
	if err != nil {
		fail(exitFailure, "subscribe", err)
	}
	start := time.Now()
	if err := pc.Start(); err != nil {
		fail(exitFailure, "start", err)
	}
	stopProgress := make(chan struct{})
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		prev := int64(0)
		for {
			select {
			case <-stopProgress:
				return
			case <-t.C:
				n := count.Load()
				fmt.Fprintf(os.Stderr, "[bench-consume] %.0fs consumed=%d last_sec=%d msg/s\n",
					time.Since(start).Seconds(), n, n-prev)
				prev = n
			}
		}
	}()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	code, reason := exitOK, ""
	select {
	case <-done:
	case <-time.After(time.Duration(*timeoutSec * float64(time.Second))):
		code, reason = exitFailure, "timeout"
	case s := <-sig:
		code, reason = exitFailure, "signal "+s.String()
	}
	close(stopProgress)
	shutdownBounded(pc)
	if code != exitOK {
		emit(map[string]any{
			"type":     "error",
			"stage":    "consume",
			"error":    reason,
			"expected": *expect,
			"received": count.Load(),
		})
		return code
	}
	marksMu.Lock()
	defer marksMu.Unlock()
	elapsed := last.at.Sub(first.at).Seconds()
	user, sys := cpuDelta(first.ru, last.ru)
	rate := 0.0
	if elapsed > 0 {
		rate = float64(*expect) / elapsed
	}
	emit(map[string]any{
		"type":   "summary",
		"client": "rocketmq-client-go/v2",
		// Messages consumed in the timed run: the first delivered to the N-th.
		"sent":              *expect,
		"errors":            0,
		"received":          count.Load(),
		"elapsed_sec":       elapsed,
		"first_message_sec": first.at.Sub(start).Seconds(),
		"msgs_per_sec":      rate,
		"cpu_user_sec":      user,
		"cpu_sys_sec":       sys,
		"max_rss_kib":       rusageNow().Maxrss,
	})
	return exitOK
}

// ---------------------------------------------------------------- bench-latency

// latencyBody is a body that starts with sendNs in decimal ASCII and a
// space, padded to size with filler.
func latencyBody(sendNs int64, size int, filler []byte) []byte {
	b := strconv.AppendInt(make([]byte, 0, size), sendNs, 10)
	b = append(b, ' ')
	if len(b) < size {
		b = append(b, filler[:size-len(b)]...)
	}
	return b
}

// sendTimeOf parses the send time a latencyBody starts with.
func sendTimeOf(body []byte) (int64, bool) {
	end := 0
	for end < len(body) && body[end] >= '0' && body[end] <= '9' {
		end++
	}
	if end == 0 || end >= len(body) || body[end] != ' ' {
		return 0, false
	}
	ns, err := strconv.ParseInt(string(body[:end]), 10, 64)
	return ns, err == nil
}

func runBenchLatency(args []string) int {
	fs := flag.NewFlagSet("bench-latency", flag.ContinueOnError)
	var c commonFlags
	c.register(fs)
	rate := fs.Float64("rate", 2000, "messages per second")
	durationSec := fs.Float64("duration-sec", 10, "measured seconds, after the warm-up")
	warmupSec := fs.Float64("warmup-sec", 2, "seconds sent at the rate first, not counted")
	bodySize := fs.Int("body-size", 1024, "body size in bytes")
	senders := fs.Int("senders", 8, "goroutines that hold the pace, each sending synchronously")
	readySec := fs.Float64("ready-timeout-sec", 30, "longest wait for the consumer to receive a probe before the run")
	retry := fs.Int("retry", 2, "send retries")
	timeoutMs := fs.Int("send-timeout-ms", 3000, "send timeout in milliseconds")
	parseFlags(fs, args)
	if err := c.validate(); err != nil {
		fail(exitUsage, "flags", err)
	}
	if *rate <= 0 || *durationSec <= 0 || *warmupSec < 0 || *senders < 1 {
		fail(exitUsage, "flags", errors.New("need --rate > 0, --duration-sec > 0, --warmup-sec >= 0, --senders >= 1"))
	}
	setupLogging(c.logLevel)

	// The consumer first: a fresh group from the last offset.
	pc, err := rocketmq.NewPushConsumer(
		consumer.WithGroupName(c.group),
		consumer.WithNameServer(primitive.NamesrvAddr(c.namesrvAddrs())),
		consumer.WithConsumerModel(consumer.Clustering),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromLastOffset),
	)
	if err != nil {
		fail(exitFailure, "create", err)
	}
	var (
		measureFrom atomic.Int64 // wall ns: messages sent at or after it count; 0 = none yet
		anyReceived atomic.Bool
		counted     atomic.Int64
		latMu       sync.Mutex
		lats        []int64 // ns
	)
	err = pc.Subscribe(c.topic, consumer.MessageSelector{Type: consumer.TAG, Expression: "*"},
		func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
			now := time.Now().UnixNano()
			anyReceived.Store(true)
			for _, m := range msgs {
				sentNs, ok := sendTimeOf(m.Body)
				from := measureFrom.Load()
				if !ok || from == 0 || sentNs < from {
					continue
				}
				latMu.Lock()
				lats = append(lats, now-sentNs)
				latMu.Unlock()
				counted.Add(1)
			}
			return consumer.ConsumeSuccess, nil
		})
	if err != nil {
		fail(exitFailure, "subscribe", err)
	}
	if err := pc.Start(); err != nil {
		fail(exitFailure, "start", err)
	}
	defer shutdownBounded(pc)

	p, err := newProducer(&c, *retry, time.Duration(*timeoutMs)*time.Millisecond, 0)
	if err != nil {
		fail(exitFailure, "start", err)
	}
	defer p.Shutdown()
	filler := makeBody("", *bodySize, 0)
	send := func() (int64, error) {
		sentNs := time.Now().UnixNano()
		msg := primitive.NewMessage(c.topic, latencyBody(sentNs, *bodySize, filler))
		res, err := p.SendSync(context.Background(), msg)
		if err == nil && res.Status != primitive.SendOK {
			err = fmt.Errorf("send status %s", sendStatusName(res.Status))
		}
		return sentNs, err
	}

	// Probes until the consumer owns its queues and receives (bounded).
	readyStart := time.Now()
	for !anyReceived.Load() && time.Since(readyStart).Seconds() < *readySec {
		if _, err := send(); err != nil {
			fmt.Fprintf(os.Stderr, "[bench-latency] probe: %v\n", err)
		}
		for i := 0; i < 10 && !anyReceived.Load(); i++ {
			time.Sleep(20 * time.Millisecond)
		}
	}
	readyAfter := time.Since(readyStart).Seconds()
	if !anyReceived.Load() {
		fmt.Fprintf(os.Stderr, "[bench-latency] no probe arrived in %.0f s; running anyway\n", *readySec)
	}

	// Message i is due at t0 + i/rate; those due from measureStart on count.
	t0 := time.Now().Add(20 * time.Millisecond)
	measureStart := t0.Add(time.Duration(*warmupSec * float64(time.Second)))
	end := measureStart.Add(time.Duration(*durationSec * float64(time.Second)))
	measureFrom.Store(measureStart.UnixNano())
	var (
		next, sent, errs atomic.Int64
		firstErr         atomic.Value
		startMark        mark
		startMarked      = make(chan struct{})
	)
	go func() {
		time.Sleep(time.Until(measureStart))
		startMark = markNow()
		close(startMarked)
	}()
	var wg sync.WaitGroup
	for w := 0; w < *senders; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				due := t0.Add(time.Duration(float64(i) * float64(time.Second) / *rate))
				if !due.Before(end) {
					return
				}
				time.Sleep(time.Until(due))
				sentNs, err := send()
				if sentNs < measureStart.UnixNano() {
					continue
				}
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				} else {
					sent.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	<-startMarked
	sendEnd := time.Now()
	// Stragglers: at most 30 s more.
	for counted.Load() < sent.Load() && time.Since(sendEnd) < 30*time.Second {
		time.Sleep(5 * time.Millisecond)
	}
	endMark := markNow()

	latMu.Lock()
	sorted := append([]int64(nil), lats...)
	latMu.Unlock()
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	pct := func(q float64) float64 {
		if len(sorted) == 0 {
			return 0
		}
		return float64(sorted[int(q*float64(len(sorted)-1))]) / 1e6
	}
	sendSec := sendEnd.Sub(measureStart).Seconds()
	user, sys := cpuDelta(startMark.ru, endMark.ru)
	out := map[string]any{
		"type":         "summary",
		"client":       "rocketmq-client-go/v2",
		"sent":         sent.Load(),
		"errors":       errs.Load(),
		"received":     int64(len(sorted)),
		"rate":         *rate,
		"senders":      *senders,
		"body_size":    *bodySize,
		"elapsed_sec":  sendSec,
		"msgs_per_sec": float64(sent.Load()) / sendSec,
		"ready_sec":    readyAfter,
		// From the end of the warm-up until the last message arrived (or
		// the straggler wait ended): producer and consumer together.
		"cpu_user_sec": user,
		"cpu_sys_sec":  sys,
		"max_rss_kib":  rusageNow().Maxrss,
		"lat_p50_ms":   pct(0.50),
		"lat_p99_ms":   pct(0.99),
		"lat_max_ms":   pct(1.0),
	}
	if e, ok := firstErr.Load().(string); ok {
		out["first_error"] = e
	}
	emit(out)
	if sent.Load() == 0 || len(sorted) == 0 {
		return exitFailure
	}
	return exitOK
}

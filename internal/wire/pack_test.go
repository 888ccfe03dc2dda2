package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestPackRoundTrip(t *testing.T) {
	var jobs []Job
	var encoded [][]byte
	for i := range 5 {
		j := validJob()
		j.DeliveryID = fmt.Sprintf("d-%d", i)
		j.Attempt = i + 1
		j.Payload = json.RawMessage(fmt.Sprintf(`{"n":%d,"s":"a\nb \u2028 <&>"}`, i))
		e, err := EncodeJob(j)
		if err != nil {
			t.Fatal(err)
		}
		jobs, encoded = append(jobs, j), append(encoded, e)
	}
	got, err := DecodePack(AppendPack(nil, encoded...))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, jobs) {
		t.Fatalf("decoded\n%+v\nwant\n%+v", got, jobs)
	}
	// One job alone is a pack of one, as messages were before packs.
	one, err := DecodePack(encoded[2])
	if err != nil || len(one) != 1 || !reflect.DeepEqual(one[0], jobs[2]) {
		t.Fatalf("a single job read as %+v, %v", one, err)
	}
}

// TestPackLineBreakInPayload: a payload with a line break between tokens
// is compacted (its meaning is kept), so the pack's lines still split its
// jobs; a message written before packs with such a payload still reads.
func TestPackLineBreakInPayload(t *testing.T) {
	j := validJob()
	j.Payload = json.RawMessage("{\n  \"a\": [1,\n 2]\n}")
	e, err := EncodeJob(j)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.IndexByte(e, '\n') >= 0 {
		t.Fatalf("encoded job holds a line break: %q", e)
	}
	jobs, err := DecodePack(AppendPack(nil, e, e))
	if err != nil || len(jobs) != 2 || string(jobs[1].Payload) != `{"a":[1,2]}` {
		t.Fatalf("got %+v, %v", jobs, err)
	}
	old := []byte(strings.Replace(string(e), `"payload":{"a":[1,2]}`, "\"payload\":{\n\"a\":[1,2]}", 1))
	jobs, err = DecodePack(old)
	if err != nil || len(jobs) != 1 || string(jobs[0].Payload) != "{\n\"a\":[1,2]}" {
		t.Fatalf("a job from before packs read as %+v, %v", jobs, err)
	}
}

func TestPackRefused(t *testing.T) {
	e, err := EncodeJob(validJob())
	if err != nil {
		t.Fatal(err)
	}
	many := make([][]byte, MaxPackJobs+1)
	for i := range many {
		many[i] = e
	}
	for name, data := range map[string][]byte{
		"empty":             nil,
		"empty line":        AppendPack(nil, e, nil),
		"a line not a job":  AppendPack(nil, e, []byte(`{"v":1}`)),
		"too many jobs":     AppendPack(nil, many...),
		"trailing new line": append(AppendPack(nil, e), '\n'),
	} {
		if jobs, err := DecodePack(data); err == nil {
			t.Errorf("%s: decoded %d jobs", name, len(jobs))
		}
	}
}

// FuzzDecodePack: whatever DecodePack accepts, each of its jobs encodes
// and decodes to itself, and a pack of those encodings reads the same.
func FuzzDecodePack(f *testing.F) {
	e, _ := EncodeJob(validJob())
	f.Add(AppendPack(nil, e, e))
	f.Add(e)
	f.Fuzz(func(t *testing.T, data []byte) {
		jobs, err := DecodePack(data)
		if err != nil {
			return
		}
		encoded := make([][]byte, len(jobs))
		for i, j := range jobs {
			if encoded[i], err = EncodeJob(j); err != nil {
				t.Fatalf("job %d of an accepted pack does not encode: %v", i, err)
			}
		}
		again, err := DecodePack(AppendPack(nil, encoded...))
		if err != nil || len(again) != len(jobs) {
			t.Fatalf("re-encoded pack: %d jobs, %v; want %d", len(again), err, len(jobs))
		}
	})
}

package pipeline

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"
)

func TestOrderedKeepsSubmissionOrder(t *testing.T) {
	const n = 500
	var got []int
	p := New(4, func(v *[2]int) error {
		// Uneven work makes later items finish first now and then.
		time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
		v[1] = v[0] * v[0]
		return nil
	}, func(v *[2]int) error {
		got = append(got, v[1])
		return nil
	})
	for i := range n {
		if err := p.Submit(&[2]int{i, 0}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("consumed %d items, want %d", len(got), n)
	}
	for i, v := range got {
		if v != i*i {
			t.Fatalf("item %d: got %d, want %d (out of order)", i, v, i*i)
		}
	}
}

func TestOrderedStopsAtFirstError(t *testing.T) {
	boom := errors.New("boom")
	consumed := 0
	p := New(2, func(v int) error {
		if v == 10 {
			return boom
		}
		return nil
	}, func(v int) error {
		if v >= 10 {
			t.Errorf("item %d consumed after the failing item", v)
		}
		consumed++
		return nil
	})
	var submitErr error
	for i := range 1000 {
		if submitErr = p.Submit(i); submitErr != nil {
			break
		}
	}
	if err := p.Close(); !errors.Is(err, boom) {
		t.Fatalf("Close: %v, want %v", err, boom)
	}
	if submitErr != nil && !errors.Is(submitErr, boom) {
		t.Fatalf("Submit: %v, want %v", submitErr, boom)
	}
	if consumed != 10 {
		t.Fatalf("consumed %d items, want the 10 before the failure", consumed)
	}
}

func TestOrderedConsumerError(t *testing.T) {
	boom := errors.New("disk full")
	p := New(3, func(int) error { return nil }, func(v int) error {
		if v == 3 {
			return boom
		}
		return nil
	})
	for i := range 100 {
		if err := p.Submit(i); err != nil {
			break
		}
	}
	if err := p.Close(); !errors.Is(err, boom) {
		t.Fatalf("Close: %v, want %v", err, boom)
	}
}

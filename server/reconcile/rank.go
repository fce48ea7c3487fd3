package reconcile

import "math/rand/v2"

// rankTree is an ordered set with ranks: a treap whose nodes count their
// subtree, so insert, delete, the rank of an item and the item at a rank
// all take O(log n) expected time. The admission queue needs the rank (a
// lab's place in the queue) as well as the order; the B-trees at hand
// (google/btree, tidwall/btree) answer "item at index" but not "index of
// item". Not safe for concurrent use: the ledger's lock guards it.
type rankTree[T any] struct {
	less func(a, b T) bool
	root *rankNode[T]
	rng  *rand.Rand
}

type rankNode[T any] struct {
	item        T
	prio        uint64
	size        int
	left, right *rankNode[T]
}

func newRankTree[T any](less func(a, b T) bool) *rankTree[T] {
	return &rankTree[T]{less: less, rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
}

func (n *rankNode[T]) count() int {
	if n == nil {
		return 0
	}
	return n.size
}

func (n *rankNode[T]) fix() { n.size = 1 + n.left.count() + n.right.count() }

// Len is the number of items.
func (t *rankTree[T]) Len() int { return t.root.count() }

// split cuts n into the items less than item and the rest.
func (t *rankTree[T]) split(n *rankNode[T], item T) (l, r *rankNode[T]) {
	if n == nil {
		return nil, nil
	}
	if t.less(n.item, item) {
		n.right, r = t.split(n.right, item)
		n.fix()
		return n, r
	}
	l, n.left = t.split(n.left, item)
	n.fix()
	return l, n
}

// merge joins l and r, every item of l less than every item of r.
func merge[T any](l, r *rankNode[T]) *rankNode[T] {
	switch {
	case l == nil:
		return r
	case r == nil:
		return l
	case l.prio > r.prio:
		l.right = merge(l.right, r)
		l.fix()
		return l
	}
	r.left = merge(l, r.left)
	r.fix()
	return r
}

// Insert adds item; an equal item (neither less than the other) must not
// be present.
func (t *rankTree[T]) Insert(item T) {
	l, r := t.split(t.root, item)
	n := &rankNode[T]{item: item, prio: t.rng.Uint64(), size: 1}
	t.root = merge(merge(l, n), r)
}

// Delete removes the item equal to item and reports whether there was one.
func (t *rankTree[T]) Delete(item T) bool {
	var deleted bool
	t.root = t.delete(t.root, item, &deleted)
	return deleted
}

func (t *rankTree[T]) delete(n *rankNode[T], item T, deleted *bool) *rankNode[T] {
	if n == nil {
		return nil
	}
	switch {
	case t.less(item, n.item):
		n.left = t.delete(n.left, item, deleted)
	case t.less(n.item, item):
		n.right = t.delete(n.right, item, deleted)
	default:
		*deleted = true
		return merge(n.left, n.right)
	}
	n.fix()
	return n
}

// Rank is the number of items less than item, and whether item is present.
func (t *rankTree[T]) Rank(item T) (int, bool) {
	rank := 0
	for n := t.root; n != nil; {
		switch {
		case t.less(item, n.item):
			n = n.left
		case t.less(n.item, item):
			rank += n.left.count() + 1
			n = n.right
		default:
			return rank + n.left.count(), true
		}
	}
	return rank, false
}

// At is the item of rank i (0 is the least).
func (t *rankTree[T]) At(i int) (T, bool) {
	n := t.root
	for n != nil {
		switch lc := n.left.count(); {
		case i < lc:
			n = n.left
		case i == lc:
			return n.item, true
		default:
			i -= lc + 1
			n = n.right
		}
	}
	var zero T
	return zero, false
}

// Ascend calls fn on each item in order, from rank from, until fn returns
// false.
func (t *rankTree[T]) Ascend(from int, fn func(T) bool) {
	t.ascend(t.root, from, fn)
}

func (t *rankTree[T]) ascend(n *rankNode[T], from int, fn func(T) bool) bool {
	if n == nil {
		return true
	}
	lc := n.left.count()
	if from < lc && !t.ascend(n.left, from, fn) {
		return false
	}
	if from <= lc && !fn(n.item) {
		return false
	}
	return t.ascend(n.right, max(0, from-lc-1), fn)
}

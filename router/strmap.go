package router

import (
	"hash/maphash"
	"unsafe"
)

// strMap is the tables' map from strings (hosts, path prefixes, exact
// paths, literal segments) to V, which is a pointer type. It replaces Go
// maps so that Table.Update need not clone a map of 10,000 prefixes to
// change one: a write by an edit that does not own the map copies the page
// slice (a few kilobytes) and the page it touches, and shares every other
// page with the table it came from. Reads allocate nothing and are safe for
// concurrent use; writes follow the rules of edit.
//
// It is open addressing with linear probing inside pages of at most
// maxPageSlots slots: a key's hash picks the page with its high bits and
// the first slot with its low bits. Every page keeps one slot empty, which
// ends a probe; the map holds at most half as many keys as slots, at least
// an eighth (but for the smallest sizes), and resizes to a quarter to a
// half full. The zero strMap is empty and ready to use.
type strMap[V any] struct {
	owner *edit // the edit that allocated pages
	pages []mapPage[V]
	n     int
}

type mapPage[V any] struct {
	owner *edit // the edit that allocated slots
	n     int
	slots []mapSlot[V] // a power of two long
}

type mapSlot[V any] struct {
	hash uint64 // 0 for an empty slot: stored hashes have the top bit set
	key  string
	val  V
}

// smallMap is the smallest map's page and slots, allocated at once. It
// holds up to four keys: most maps of a table are small (the children of
// a trie node, the paths of a host), and growing costs more than the
// slots.
type smallMap[V any] struct {
	page  [1]mapPage[V]
	slots [minSlots]mapSlot[V]
}

const minSlots = 8

// maxPageSlots bounds a page: a write to a 10,000-key map of another edit
// copies 256 page headers and one page of 128 slots, 12 KB.
const maxPageSlots = 128

// hashSeed is the process's seed of the tables' hashes; it only decides
// where keys lie, never what Lookup answers.
var hashSeed = maphash.MakeSeed()

func hashKey(key []byte) uint64 { return maphash.Bytes(hashSeed, key) | 1<<63 }

// stringBytes views s as bytes, for hashing and comparing only: the bytes
// must not be written.
func stringBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

func (m *strMap[V]) slotCount() int {
	if len(m.pages) == 0 {
		return 0
	}
	return len(m.pages) * len(m.pages[0].slots)
}

func (m *strMap[V]) pageOf(h uint64) *mapPage[V] {
	return &m.pages[(h>>32)&uint64(len(m.pages)-1)]
}

// lookup returns the value of key, the zero V if it is absent. key is a
// byte slice so that Lookup can pass slices of the request without
// allocating.
func (m *strMap[V]) lookup(key []byte) V {
	var zero V
	if m.n == 0 {
		return zero
	}
	h := hashKey(key)
	p := m.pageOf(h)
	if i, ok := p.find(h, key); ok {
		return p.slots[i].val
	}
	return zero
}

// get is lookup with a string key.
func (m *strMap[V]) get(key string) V { return m.lookup(stringBytes(key)) }

// find returns the slot holding key, or the empty slot that ends its probe.
func (p *mapPage[V]) find(h uint64, key []byte) (uint64, bool) {
	mask := uint64(len(p.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &p.slots[i]
		if s.hash == h && s.key == string(key) {
			return i, true
		}
		if s.hash == 0 {
			return i, false
		}
	}
}

// ownPage returns the page of h, copying the page slice and the page first
// unless ed allocated them. The map itself must belong to ed's objects.
func (m *strMap[V]) ownPage(ed *edit, h uint64) *mapPage[V] {
	if m.owner != ed {
		m.pages = append([]mapPage[V](nil), m.pages...)
		m.owner = ed
	}
	p := m.pageOf(h)
	if p.owner != ed {
		p.slots = append([]mapSlot[V](nil), p.slots...)
		p.owner = ed
	}
	return p
}

// ref returns the address of key's value for ed to write, adding key with
// the zero V if it is absent. The address is good until the next write to
// m.
func (m *strMap[V]) ref(ed *edit, key string) *V {
	h := hashKey(stringBytes(key))
	for {
		if len(m.pages) == 0 {
			m.resize(ed, 1)
		}
		p := m.pageOf(h)
		i, found := p.find(h, stringBytes(key))
		switch {
		case found:
			return &m.ownPage(ed, h).slots[i].val
		// Room for one more key, and in its page for it and an empty
		// slot; ownPage keeps the slots where they are.
		case 2*(m.n+1) <= m.slotCount() && p.n+2 <= len(p.slots):
			p = m.ownPage(ed, h)
			p.slots[i] = mapSlot[V]{hash: h, key: key}
			p.n++
			m.n++
			return &p.slots[i].val
		}
		m.resize(ed, m.slotCount())
	}
}

// delete removes key, for ed.
func (m *strMap[V]) delete(ed *edit, key string) {
	if m.n == 0 {
		return
	}
	h := hashKey(stringBytes(key))
	i, ok := m.pageOf(h).find(h, stringBytes(key))
	if !ok {
		return
	}
	m.ownPage(ed, h).removeAt(i)
	m.n--
	if m.n == 0 {
		*m = strMap[V]{}
	} else if 8*m.n < m.slotCount() && m.slotCount() > minSlots {
		m.resize(ed, m.n)
	}
}

// removeAt empties slot i and moves back the slots after it that their
// probe would no longer reach (backward-shift deletion).
func (p *mapPage[V]) removeAt(i uint64) {
	mask := uint64(len(p.slots) - 1)
	for j := (i + 1) & mask; p.slots[j].hash != 0; j = (j + 1) & mask {
		// The key in j may fill the hole if the hole lies on its probe,
		// from its home slot to j.
		if home := p.slots[j].hash & mask; (j-home)&mask >= (j-i)&mask {
			p.slots[i] = p.slots[j]
			i = j
		}
	}
	p.slots[i] = mapSlot[V]{}
	p.n--
}

// resize rebuilds the map, owned by ed, with room for n keys: a quarter to
// a half of the slots, more if a page fills up.
func (m *strMap[V]) resize(ed *edit, n int) {
	slots := minSlots
	for slots < 2*n {
		slots *= 2
	}
	for !m.rehash(ed, slots) {
		slots *= 2
	}
}

// rehash moves the keys to new pages of slots slots in all and reports
// whether they fitted, every page keeping an empty slot.
func (m *strMap[V]) rehash(ed *edit, slots int) bool {
	var pages []mapPage[V]
	if slots == minSlots {
		small := &smallMap[V]{}
		small.page[0] = mapPage[V]{owner: ed, slots: small.slots[:]}
		pages = small.page[:]
	} else {
		perPage := min(slots, maxPageSlots)
		pages = make([]mapPage[V], slots/perPage)
		backing := make([]mapSlot[V], slots)
		for i := range pages {
			pages[i] = mapPage[V]{owner: ed, slots: backing[i*perPage : (i+1)*perPage : (i+1)*perPage]}
		}
	}
	next := strMap[V]{owner: ed, pages: pages, n: m.n}
	for _, old := range m.pages {
		for _, s := range old.slots {
			if s.hash == 0 {
				continue
			}
			p := next.pageOf(s.hash)
			if p.n+2 > len(p.slots) {
				return false
			}
			i, _ := p.find(s.hash, stringBytes(s.key))
			p.slots[i] = s
			p.n++
		}
	}
	*m = next
	return true
}

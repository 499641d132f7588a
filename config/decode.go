package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// maxNodes bounds the nodes one decode visits with aliases expanded: a
// 1,000-route configuration is a few tens of thousands of nodes, while a
// document of nested aliases ("billion laughs") would expand without end.
const maxNodes = 1 << 18

// maxDepth bounds nesting, aliases expanded.
const maxDepth = 200

// source remembers where the decoded values came from.
type source struct {
	file string
	// lines maps the path of every value the decoder set ("routes[2]",
	// "routes[2].upstream") to the line of its key or list item.
	lines map[string]int
	// bad holds the paths whose value failed to decode; validation stays
	// silent about them and their children, which would only repeat the
	// error in other words.
	bad map[string]bool
	// files, for a configuration assembled from several documents (a
	// fleet's Consul keys), names the document of each part by its path
	// ("routes[3]"); file is that of everything else.
	files map[string]string
}

// fileOf is the document path came from.
func (s *source) fileOf(path string) string {
	if s == nil {
		return ""
	}
	for s.files != nil {
		if f, ok := s.files[path]; ok {
			return f
		}
		if path == "" {
			break
		}
		path = parentPath(path)
	}
	return s.file
}

func newSource(file string) *source {
	return &source{file: file, lines: make(map[string]int), bad: make(map[string]bool)}
}

// present reports whether path was set by the source document.
// A nil source (a Config built in Go) has nothing present.
func (s *source) present(path string) bool {
	if s == nil {
		return false
	}
	_, ok := s.lines[path]
	return ok
}

// lineOf returns the line of path, or of its nearest ancestor that has one:
// a default filled into an absent field is blamed on its enclosing mapping.
func (s *source) lineOf(path string) int {
	if s == nil {
		return 0
	}
	for {
		if l, ok := s.lines[path]; ok {
			return l
		}
		if path == "" {
			return 0
		}
		path = parentPath(path)
	}
}

// isBad reports whether path or one of its ancestors failed to decode.
func (s *source) isBad(path string) bool {
	if s == nil || len(s.bad) == 0 {
		return false
	}
	for {
		if s.bad[path] {
			return true
		}
		if path == "" {
			return false
		}
		path = parentPath(path)
	}
}

// parentPath cuts the last ".field" or "[i]" off path.
func parentPath(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

// joinPath appends a field name, or an index when field starts with "[".
func joinPath(path, field string) string {
	switch {
	case path == "":
		return field
	case field == "":
		return path
	case field[0] == '[':
		return path + field
	}
	return path + "." + field
}

// keyPath appends a map key: as a field when it is a plain word, quoted in
// brackets otherwise, so that the path stays unambiguous.
func keyPath(path, key string) string {
	plain := key != ""
	for i := 0; i < len(key) && plain; i++ {
		c := key[i]
		plain = c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
	}
	if plain {
		return joinPath(path, key)
	}
	return path + "[" + strconv.Quote(key) + "]"
}

// decoder walks a yaml.Node tree into Go values strictly, recording the line
// of every value set and an error for every value refused.
type decoder struct {
	src   *source
	errs  *errorList
	nodes int
	// depth is the current nesting, bounded by maxDepth: the yaml parser
	// lets an alias refer to its own enclosing node, a cycle.
	depth int
	// exhausted is set once maxNodes is reached; decoding then stops.
	exhausted bool
	// aliased counts the aliases being expanded around the current node.
	aliased int
}

var (
	nodeType        = reflect.TypeOf(yaml.Node{})
	unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
	routeListType   = reflect.TypeFor[RouteList]()
)

func (d *decoder) fail(line int, path, format string, args ...any) {
	d.src.bad[path] = true
	d.errs.add(&Error{File: d.src.file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// decode sets v from n. path names v in error messages and line is the line
// of the key or list item that holds n.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string, line int) {
	if d.exhausted {
		return
	}
	if d.nodes++; d.nodes > maxNodes || d.depth >= maxDepth {
		d.exhausted = true
		d.errs.add(&Error{File: d.src.file, Line: line, Path: path, Msg: ErrTooComplex.Error(), kind: ErrTooComplex})
		return
	}
	d.depth++
	defer func() { d.depth-- }()
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return
		}
		// Values reached through an alias keep the line of the alias: the
		// anchored text is elsewhere, and recording every expanded path
		// would let a small document fill the map.
		d.aliased++
		defer func() { d.aliased-- }()
		for n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
	}
	if line == 0 {
		line = n.Line
	}
	if d.aliased == 0 {
		d.src.lines[path] = line
	}
	if v.Type() == nodeType {
		v.Set(reflect.ValueOf(*n))
		spellNulls(v.Addr().Interface().(*yaml.Node))
		return
	}
	if isNull(n) {
		// An empty value ("key:" or "key: ~") leaves the field at its zero
		// value, which means its default.
		return
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path, line)
		return
	}
	if v.Type() == routeListType {
		// Decoded as the list it is in YAML, item by item like any
		// slice: errors keep their paths (routes[12].upstream).
		var routes []*Route
		d.decodeSlice(n, reflect.ValueOf(&routes).Elem(), path, line)
		v.Set(reflect.ValueOf(Routes(routes...)))
		return
	}
	if v.CanAddr() && v.Addr().Type().Implements(unmarshalerType) {
		if err := v.Addr().Interface().(yaml.Unmarshaler).UnmarshalYAML(n); err != nil {
			d.fail(line, path, "%s", err.Error())
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, v, path, line)
	case reflect.Map:
		d.decodeMap(n, v, path, line)
	case reflect.Slice:
		d.decodeSlice(n, v, path, line)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.fail(line, path, "must be a string, got %s", describeNode(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
			d.fail(line, path, "must be true or false, got %s", describeNode(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var i int64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil || v.OverflowInt(i) {
			d.fail(line, path, "must be an integer, got %s", describeNode(n))
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		var u uint64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&u) != nil || v.OverflowUint(u) {
			d.fail(line, path, "must be a non-negative integer, got %s", describeNode(n))
			return
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		var f float64
		tag := n.ShortTag()
		if n.Kind != yaml.ScalarNode || tag != "!!int" && tag != "!!float" || n.Decode(&f) != nil || v.OverflowFloat(f) {
			d.fail(line, path, "must be a number, got %s", describeNode(n))
			return
		}
		v.SetFloat(f)
	case reflect.Interface:
		if v.NumMethod() != 0 {
			d.fail(line, path, "cannot decode into %s", v.Type())
			return
		}
		if x := d.decodeAny(n, path, line); x != nil {
			v.Set(reflect.ValueOf(x))
		}
	default:
		d.fail(line, path, "cannot decode into %s", v.Type())
	}
}

// decodeAny decodes n into the generic form yaml.v3 uses for an `any`
// field (map[string]any, []any, string, int, float64, bool, nil) through the
// same walker, so that aliases count against the same budget.
func (d *decoder) decodeAny(n *yaml.Node, path string, line int) any {
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for _, p := range d.pairs(n, path) {
			var elem any
			d.decode(p.val, reflect.ValueOf(&elem).Elem(), keyPath(path, p.key), p.line)
			m[p.key] = elem
		}
		return m
	case yaml.SequenceNode:
		s := make([]any, len(n.Content))
		for i, item := range n.Content {
			d.decode(item, reflect.ValueOf(&s[i]).Elem(), path+"["+strconv.Itoa(i)+"]", item.Line)
		}
		return s
	}
	if n.ShortTag() == "!!str" {
		return n.Value
	}
	var x any
	if err := n.Decode(&x); err != nil {
		d.fail(line, path, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return x
}

// spellNulls gives every empty null in the tree under n (the value of
// "{a, b: 1}" or "{a: , b: 1}") the text "null". yaml.v3 writes an empty
// null inside a flow mapping as a quoted empty string, so a policy's config
// written back (the Admin API's write-back, apply to Consul) would read
// back as a string where the file had no value: a bool or a duration
// field that was left at its default would then be refused. Block style
// ("a:") was written right; "null" is right in both. Aliases are not
// followed: what they name is in the tree where it was written.
func spellNulls(n *yaml.Node) {
	stack := []*yaml.Node{n}
	for len(stack) > 0 {
		n, stack = stack[len(stack)-1], stack[:len(stack)-1]
		if n.Kind == yaml.ScalarNode && n.Value == "" && n.ShortTag() == "!!null" {
			n.Value = "null"
		}
		stack = append(stack, n.Content...)
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == 0 || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string, line int) {
	if n.Kind != yaml.MappingNode {
		d.fail(line, path, "must be a mapping, got %s", describeNode(n))
		return
	}
	fields := fieldsOf(v.Type())
	for _, p := range d.pairs(n, path) {
		f, ok := fields.byName[p.key]
		if !ok {
			msg := fmt.Sprintf("unknown field %q", p.key)
			if s := suggest(p.key, fields.names); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			d.errs.add(&Error{File: d.src.file, Line: p.line, Path: path, Msg: msg})
			continue
		}
		d.decode(p.val, v.FieldByIndex(f), joinPath(path, p.key), p.line)
	}
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string, line int) {
	if n.Kind != yaml.MappingNode {
		d.fail(line, path, "must be a mapping, got %s", describeNode(n))
		return
	}
	if v.Type().Key().Kind() != reflect.String {
		d.fail(line, path, "cannot decode into %s", v.Type())
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	for _, p := range d.pairs(n, path) {
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(p.val, elem, keyPath(path, p.key), p.line)
		v.SetMapIndex(reflect.ValueOf(p.key).Convert(v.Type().Key()), elem)
	}
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string, line int) {
	if n.Kind != yaml.SequenceNode {
		d.fail(line, path, "must be a list, got %s", describeNode(n))
		return
	}
	// An explicit empty list stays non-nil: some fields tell "absent, use
	// the default" from "empty on purpose".
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.decode(item, s.Index(i), path+"["+strconv.Itoa(i)+"]", item.Line)
	}
	v.Set(s)
}

// pair is one effective key of a mapping.
type pair struct {
	key  string
	val  *yaml.Node
	line int
}

// pairs lists the keys of mapping n with merge keys ("<<: *defaults")
// expanded: keys written in n win over merged ones, and an earlier merge
// source wins over a later one. A key written twice in n is an error.
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	out := make([]pair, 0, len(n.Content)/2)
	written := make(map[string]int, len(n.Content)/2)
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, val)
			continue
		}
		// These errors do not mark path bad: that would silence the
		// validation of everything below it for one stray key.
		if k.Kind != yaml.ScalarNode {
			d.errs.add(&Error{File: d.src.file, Line: k.Line, Path: path, Msg: "keys must be strings, got " + describeNode(k)})
			continue
		}
		if first, dup := written[k.Value]; dup {
			d.errs.add(&Error{File: d.src.file, Line: k.Line, Path: keyPath(path, k.Value),
				Msg: fmt.Sprintf("duplicate key (first at line %d)", first)})
			continue
		}
		written[k.Value] = k.Line
		out = append(out, pair{key: k.Value, val: val, line: k.Line})
	}
	if len(merges) == 0 {
		return out
	}
	merged := make(map[string]bool)
	for _, m := range merges {
		d.mergeInto(&out, written, merged, m, path)
	}
	return out
}

// mergeInto appends the keys of merge source m that are not yet set.
func (d *decoder) mergeInto(out *[]pair, written map[string]int, merged map[string]bool, m *yaml.Node, path string) {
	if d.exhausted {
		return
	}
	if d.nodes++; d.nodes > maxNodes || d.depth >= maxDepth {
		d.exhausted = true
		d.errs.add(&Error{File: d.src.file, Line: m.Line, Path: path, Msg: ErrTooComplex.Error(), kind: ErrTooComplex})
		return
	}
	d.depth++
	defer func() { d.depth-- }()
	for m.Kind == yaml.AliasNode && m.Alias != nil {
		m = m.Alias
	}
	switch m.Kind {
	case yaml.SequenceNode:
		for _, item := range m.Content {
			d.mergeInto(out, written, merged, item, path)
		}
	case yaml.MappingNode:
		for _, p := range d.pairs(m, path) {
			if _, ok := written[p.key]; ok || merged[p.key] {
				continue
			}
			merged[p.key] = true
			*out = append(*out, p)
		}
	default:
		d.errs.add(&Error{File: d.src.file, Line: m.Line, Path: path,
			Msg: "a merge (<<) needs a mapping or a list of mappings, got " + describeNode(m)})
	}
}

// describeNode says what a refused value is, for "got ..." in messages.
func describeNode(n *yaml.Node) string {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "nothing"
		}
		v := n.Value
		if len(v) > 40 {
			v = v[:40] + "..."
		}
		return strconv.Quote(v)
	}
	return "nothing"
}

// structFields is the decodable fields of a struct type by YAML name.
type structFields struct {
	byName    map[string][]int
	names     []string
	omitEmpty []bool // by names' index: ",omitempty" (jsonenc.go)
	unusual   bool   // an embedded field not inlined, or ",inline" on a non-struct: jsonenc.go leaves the struct to yaml.v3
}

var fieldCache sync.Map // reflect.Type -> *structFields

// fieldsOf lists the fields of t under the names yaml.v3 would use: the
// `yaml:"name"` tag, else the lower-cased field name; "-" skips a field and
// ",inline" flattens a struct field into its parent.
func fieldsOf(t reflect.Type) *structFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*structFields)
	}
	fs := &structFields{byName: make(map[string][]int)}
	collectFields(t, nil, fs)
	f, _ := fieldCache.LoadOrStore(t, fs)
	return f.(*structFields)
}

func collectFields(t reflect.Type, index []int, fs *structFields) {
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		tag := sf.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		idx := append(append([]int(nil), index...), i)
		inline := strings.Contains(","+opts+",", ",inline,")
		if inline && sf.Type.Kind() == reflect.Struct {
			collectFields(sf.Type, idx, fs)
			continue
		}
		if inline || sf.Anonymous {
			fs.unusual = true
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		if _, dup := fs.byName[name]; dup {
			continue
		}
		fs.byName[name] = idx
		fs.names = append(fs.names, name)
		fs.omitEmpty = append(fs.omitEmpty, strings.Contains(","+opts+",", ",omitempty,"))
	}
}

// suggest returns the name closest to an unknown key when it is close enough
// to be a typo (edit distance at most a third of its length, and 3).
func suggest(key string, names []string) string {
	best, bestDist := "", min(3, max(1, len(key)/3))+1
	for _, n := range names {
		if d := editDistance(key, n); d < bestDist {
			best, bestDist = n, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of two short strings.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

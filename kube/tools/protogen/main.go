// protogen writes kube/src/proto_schema.cc: for every built-in kind client-go's scheme
// knows, the protobuf field numbers and the encoding/json layout of every Go struct
// reachable from it, so that kube/src/proto_json.cc can turn the API server's protobuf
// into exactly the JSON the server would have sent.
//
//	kube/tools/protogen/gen            (go run . > ../../src/proto_schema.cc, in the Go
//	kube/tools/protogen/gen --check    environment of localcluster/lib/goenv.sh)
//
// Fails loudly on anything the transcoder would not reproduce faithfully: a type with a
// custom JSON encoding it does not know, a map with non-string keys, json tag options it
// does not implement.
package main

import (
	"encoding"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/scheme"
)

// Element kinds; must match proto_schema.h.
const (
	kString       = "kString"
	kBool         = "kBool"
	kInt32        = "kInt32"
	kInt64        = "kInt64"
	kUint32       = "kUint32"
	kUint64       = "kUint64"
	kFloat64      = "kFloat64"
	kFloat32      = "kFloat32"
	kBytes        = "kBytes"
	kMessage      = "kMessage"
	kTime         = "kTime"
	kMicroTime    = "kMicroTime"
	kDuration     = "kDuration"
	kQuantity     = "kQuantity"
	kIntOrString  = "kIntOrString"
	kRawExtension = "kRawExtension"
	kFieldsV1     = "kFieldsV1"
)

var special = map[reflect.Type]string{
	reflect.TypeOf(metav1.Time{}):          kTime,
	reflect.TypeOf(metav1.MicroTime{}):     kMicroTime,
	reflect.TypeOf(metav1.Duration{}):      kDuration,
	reflect.TypeOf(resource.Quantity{}):    kQuantity,
	reflect.TypeOf(intstr.IntOrString{}):   kIntOrString,
	reflect.TypeOf(runtime.RawExtension{}): kRawExtension,
	reflect.TypeOf(metav1.FieldsV1{}):      kFieldsV1,
}

var (
	jsonMarshaler = reflect.TypeOf((*json.Marshaler)(nil)).Elem()
	textMarshaler = reflect.TypeOf((*encoding.TextMarshaler)(nil)).Elem()
)

type field struct {
	json     string // "" for an inlined (embedded) struct
	number   int    // 0: not in the protobuf encoding
	wire     string // protobuf wire type from the tag ("bytes", "varint", ...)
	kind     string
	repeated bool
	omit     bool
	omitZero bool // Go 1.24's omitzero; only on metav1.Time/MicroTime (IsZero: no time)
	pointer  bool
	mapv     bool // map<string, kind>
	wrapped  bool // map value is a named slice: a message whose field 1 repeats the items
	inline   bool
	message  reflect.Type
	goName   string
}

type message struct {
	t      reflect.Type
	fields []field
}

var (
	messages = map[reflect.Type]*message{}
	order    []reflect.Type
)

func die(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "protogen: "+format+"\n", args...)
	os.Exit(1)
}

func typeName(t reflect.Type) string { return t.PkgPath() + "." + t.Name() }

// checkMarshalers fails on a type whose JSON encoding is custom and not one of `special`.
func checkMarshalers(t reflect.Type, where string) {
	if _, ok := special[t]; ok {
		return
	}
	if t.Implements(jsonMarshaler) || reflect.PointerTo(t).Implements(jsonMarshaler) ||
		t.Implements(textMarshaler) || reflect.PointerTo(t).Implements(textMarshaler) {
		die("%s: type %s has a custom JSON/text encoding the transcoder does not implement", where, t)
	}
}

// elem classifies a (non-pointer, non-slice) Go type.
func elem(t reflect.Type, where string) (kind string, msg reflect.Type) {
	if k, ok := special[t]; ok {
		return k, nil
	}
	checkMarshalers(t, where)
	switch t.Kind() {
	case reflect.String:
		return kString, nil
	case reflect.Bool:
		return kBool, nil
	case reflect.Int32:
		return kInt32, nil
	case reflect.Int64, reflect.Int:
		return kInt64, nil
	case reflect.Uint32:
		return kUint32, nil
	case reflect.Uint64:
		return kUint64, nil
	case reflect.Float64:
		return kFloat64, nil
	case reflect.Float32:
		return kFloat32, nil
	case reflect.Struct:
		visit(t)
		return kMessage, t
	}
	die("%s: unsupported type %s", where, t)
	return "", nil
}

func parseProtoTag(tag, where string) (wire string, number int) {
	parts := strings.Split(tag, ",")
	if len(parts) < 3 {
		die("%s: bad protobuf tag %q", where, tag)
	}
	n, err := strconv.Atoi(parts[1])
	if err != nil {
		die("%s: bad protobuf tag %q", where, tag)
	}
	return parts[0], n
}

func visit(t reflect.Type) {
	if _, ok := messages[t]; ok {
		return
	}
	m := &message{t: t}
	messages[t] = m
	order = append(order, t)
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		where := typeName(t) + "." + sf.Name
		if !sf.IsExported() && !sf.Anonymous {
			continue
		}
		jtag := sf.Tag.Get("json")
		if jtag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(jtag, ",")
		f := field{json: name, goName: sf.Name}
		for _, o := range strings.Split(opts, ",") {
			switch o {
			case "", "inline":
			case "omitempty":
				f.omit = true
			case "omitzero":
				f.omitZero = true
			default:
				die("%s: json tag option %q not implemented", where, o)
			}
		}
		if pt, ok := sf.Tag.Lookup("protobuf"); ok {
			f.wire, f.number = parseProtoTag(pt, where)
		}
		ft := sf.Type
		if sf.Anonymous && name == "" {
			if ft.Kind() != reflect.Struct {
				die("%s: embedded %s is not a struct", where, ft)
			}
			if _, ok := special[ft]; ok {
				die("%s: embedded special type %s", where, ft)
			}
			checkMarshalers(ft, where)
			f.inline = true
			f.kind, f.message = kMessage, ft
			visit(ft)
			m.fields = append(m.fields, f)
			continue
		}
		if !sf.IsExported() {
			continue
		}
		if f.json == "" {
			f.json = sf.Name
		}
		if ft.Kind() == reflect.Pointer {
			f.pointer = true
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Uint8:
			checkMarshalers(ft, where)
			f.kind = kBytes
		case ft.Kind() == reflect.Slice:
			checkMarshalers(ft, where)
			et := ft.Elem()
			if et.Kind() == reflect.Pointer || et.Kind() == reflect.Slice || et.Kind() == reflect.Map {
				die("%s: slice of %s not implemented", where, et)
			}
			f.repeated = true
			f.kind, f.message = elem(et, where)
		case ft.Kind() == reflect.Map:
			checkMarshalers(ft, where)
			if ft.Key().Kind() != reflect.String {
				die("%s: map key %s is not a string", where, ft.Key())
			}
			checkMarshalers(ft.Key(), where)
			f.mapv = true
			vt := ft.Elem()
			switch {
			case vt.Kind() == reflect.Slice && vt.Elem().Kind() == reflect.Uint8:
				checkMarshalers(vt, where)
				f.kind = kBytes
			case vt.Kind() == reflect.Slice:
				checkMarshalers(vt, where)
				f.wrapped = true
				f.kind, f.message = elem(vt.Elem(), where)
			case vt.Kind() == reflect.Pointer || vt.Kind() == reflect.Map:
				die("%s: map of %s not implemented", where, vt)
			default:
				f.kind, f.message = elem(vt, where)
			}
		default:
			f.kind, f.message = elem(ft, where)
		}
		if f.omitZero && (f.repeated || f.mapv || f.pointer || (f.kind != kTime && f.kind != kMicroTime)) {
			die("%s: omitzero on %s not implemented", where, sf.Type)
		}
		if f.number == 0 && f.json != "kind" && f.json != "apiVersion" {
			fmt.Fprintf(os.Stderr, "protogen: note: %s has no protobuf tag (always its zero value)\n", where)
		}
		m.fields = append(m.fields, f)
	}
}

// hasProto: the type is encoded with protobuf by the API server.
func hasProto(t reflect.Type) bool {
	_, ok := reflect.PointerTo(t).MethodByName("Unmarshal")
	_, ok2 := reflect.PointerTo(t).MethodByName("Marshal")
	return ok && ok2
}

func cstr(s string) string { return strconv.Quote(s) }

func main() {
	type gvk struct{ group, version, kind, resource string }
	var kinds []gvk
	kindMsg := map[gvk]reflect.Type{}
	for k, t := range scheme.Scheme.AllKnownTypes() {
		if k.Version == runtime.APIVersionInternal || t.Kind() != reflect.Struct {
			continue
		}
		if !hasProto(t) {
			fmt.Fprintf(os.Stderr, "protogen: note: %s (%s) has no protobuf encoding; skipped\n", k, t)
			continue
		}
		plural, _ := meta.UnsafeGuessKindToResource(k)
		g := gvk{k.Group, k.Version, k.Kind, plural.Resource}
		kinds = append(kinds, g)
		kindMsg[g] = t
		visit(t)
	}
	// The watch frame and the envelope are metav1.WatchEvent and runtime.Unknown, decoded
	// by hand; Status (for ERROR events and refusals) is one of the kinds.
	sort.Slice(kinds, func(i, j int) bool {
		a, b := kinds[i], kinds[j]
		if a.group != b.group {
			return a.group < b.group
		}
		if a.version != b.version {
			return a.version < b.version
		}
		return a.kind < b.kind
	})
	sort.Slice(order, func(i, j int) bool { return typeName(order[i]) < typeName(order[j]) })
	index := map[reflect.Type]int{}
	for i, t := range order {
		index[t] = i
	}

	version := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "k8s.io/api" {
				version = d.Version
			}
		}
	}

	w := os.Stdout
	fmt.Fprintf(w, "// Code generated by kube/tools/protogen from k8s.io/api %s; DO NOT EDIT.\n", version)
	fmt.Fprintln(w, "// Regenerate: kube/tools/protogen/gen (CTest pins.proto_schema runs gen --check).")
	fmt.Fprintln(w, "// clang-format off")
	fmt.Fprintln(w, `#include "proto_schema.h"`)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "namespace poolguard::kube::proto {")
	fmt.Fprintln(w, "namespace {")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "constexpr Field kFields[] = {")
	starts := make([]int, len(order))
	n := 0
	for i, t := range order {
		starts[i] = n
		m := messages[t]
		fmt.Fprintf(w, "    // %d %s\n", i, typeName(t))
		for _, f := range m.fields {
			var flags []string
			if f.repeated {
				flags = append(flags, "kRepeated")
			}
			if f.omit {
				flags = append(flags, "kOmitEmpty")
			}
			if f.omitZero {
				flags = append(flags, "kOmitZero")
			}
			if f.pointer {
				flags = append(flags, "kPointer")
			}
			if f.mapv {
				flags = append(flags, "kMap")
			}
			if f.wrapped {
				flags = append(flags, "kWrapped")
			}
			if f.inline {
				flags = append(flags, "kInline")
			}
			fl := "0"
			if len(flags) > 0 {
				fl = strings.Join(flags, " | ")
			}
			msg := -1
			if f.message != nil {
				msg = index[f.message]
			}
			js := "nullptr"
			if !f.inline {
				js = cstr(f.json)
			}
			fmt.Fprintf(w, "    {%s, %d, Kind::%s, %s, %d},  // %s\n", js, f.number, f.kind, fl, msg, f.goName)
			n++
		}
	}
	fmt.Fprintln(w, "};")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "constexpr Message kMessages[] = {")
	for i, t := range order {
		fmt.Fprintf(w, "    {%s, %d, %d},\n", cstr(typeName(t)), starts[i], len(messages[t].fields))
	}
	fmt.Fprintln(w, "};")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "constexpr KindEntry kKinds[] = {")
	for _, k := range kinds {
		fmt.Fprintf(w, "    {%s, %s, %s, %s, %d},\n", cstr(k.group), cstr(k.version), cstr(k.kind),
			cstr(k.resource), index[kindMsg[k]])
	}
	fmt.Fprintln(w, "};")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "}  // namespace")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "std::span<const Field> Fields() { return kFields; }")
	fmt.Fprintln(w, "std::span<const Message> Messages() { return kMessages; }")
	fmt.Fprintln(w, "std::span<const KindEntry> Kinds() { return kKinds; }")
	fmt.Fprintf(w, "const char* SchemaVersion() { return %s; }\n", cstr(version))
	fmt.Fprintln(w)
	fmt.Fprintln(w, "}  // namespace poolguard::kube::proto")
}

package template

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"

	"github.com/aos-project/aos/internal/gen"
)

// sameTree reports where two yaml.Node trees first differ in what the parser reads of them:
// yaml.v3's and a fast path's (JSON, or YAML in parts).
func sameTree(a, b *yaml.Node, at string) error {
	if a.Kind != b.Kind || a.Style != b.Style || a.ShortTag() != b.ShortTag() || a.Tag != b.Tag || a.Value != b.Value ||
		a.Line != b.Line || a.Column != b.Column || len(a.Content) != len(b.Content) {
		return fmt.Errorf("%s: yaml.v3 has kind %d style %d tag %s %q at %d:%d with %d children; the fast path kind %d style %d tag %s %q at %d:%d with %d",
			at, a.Kind, a.Style, a.Tag, a.Value, a.Line, a.Column, len(a.Content), b.Kind, b.Style, b.Tag, b.Value, b.Line, b.Column, len(b.Content))
	}
	for i := range a.Content {
		if err := sameTree(a.Content[i], b.Content[i], fmt.Sprintf("%s/%d", at, i)); err != nil {
			return err
		}
	}
	return nil
}

func yamlTree(t *testing.T, data []byte) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("yaml.v3: %v", err)
	}
	return &doc
}

// libraryTexts are the texts of the template library's files.
func libraryTexts(t *testing.T) [][]byte {
	t.Helper()
	files, _ := filepath.Glob("../../templates/*.yaml")
	if len(files) == 0 {
		t.Fatal("no library templates found under ../../templates")
	}
	var texts [][]byte
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, data)
	}
	return texts
}

// jsonForms are a template as JSON three ways: indented, on one line, and as Go's encoder
// writes it by default (with \u escapes for <, > and &).
func jsonForms(t *testing.T, yamlText []byte) [][]byte {
	t.Helper()
	v, err := DecodeValues("t.yaml", yamlText)
	if err != nil {
		t.Fatal(err)
	}
	indented, _ := json.MarshalIndent(v, "", "  ")
	var compact, escaped bytes.Buffer
	_ = json.Compact(&compact, indented)
	enc := json.NewEncoder(&escaped)
	enc.SetIndent("", "\t")
	_ = enc.Encode(v)
	return [][]byte{indented, compact.Bytes(), escaped.Bytes()}
}

// The JSON path builds exactly the tree yaml.v3 builds from the same JSON text: for every
// library template and a generated one, in each JSON form, and for hand-written texts with
// multi-byte characters before a value (columns count characters), escapes and numbers.
func TestJSONTreeIsYAMLsTree(t *testing.T) {
	var texts [][]byte
	for _, data := range libraryTexts(t) {
		texts = append(texts, jsonForms(t, data)...)
	}
	texts = append(texts, jsonForms(t, []byte(featureTemplate))...)
	texts = append(texts, jsonForms(t, gen.Layered(300, 30))...)
	texts = append(texts,
		[]byte(`{"é":"ü","日本語":{"k":"€ ${x}"},"n":[0,-0,1.5,1e3,-1E-2,12345678901234567890,true,false,null],"e":{},"a":[]}`),
		[]byte("{\n\t\"a\" : \"x\\n\\\"y\\\" \\u00e9 \\u0026\",\n  \"b\":\n[ {\"c\" :\"ü\"} ,\n\"d\" ]\n}\n"),
		[]byte(`  {"dup":1,"dup":2}`),
		[]byte(`{"a":"`+strings.Repeat("v", 5000)+`"}`),
	)
	for i, text := range texts {
		fast, ok := jsonTree(text)
		if !ok {
			t.Fatalf("text %d: the JSON path gave up on valid JSON:\n%.300s", i, text)
		}
		if err := sameTree(yamlTree(t, text), fast, "doc"); err != nil {
			t.Fatalf("text %d: %v\n%.300s", i, err, text)
		}
	}
}

// JSON escapes a slash as \/, which YAML has no escape for: yaml.v3 refused such a template
// ("found unknown escape character"); the JSON path reads it as JSON means it.
func TestJSONTreeTakesAnEscapedSlash(t *testing.T) {
	doc, ok := jsonTree([]byte(`{"url":"http:\/\/example"}`))
	if !ok || doc.Content[0].Content[1].Value != "http://example" {
		t.Fatalf("an escaped slash: %v", ok)
	}
}

// What the JSON path does not build exactly as yaml.v3 would, it leaves to yaml.v3: broken
// JSON (yaml.v3 words the error), an escaped surrogate, a carriage return, a line separator
// in a string, text after the value, and anything but an object.
func TestJSONTreeGivesUp(t *testing.T) {
	for _, text := range []string{
		`{"a":1,}`, `{"a":1} x`, `{"a":1}{}`, `{"a":"\ud83d\ude00"}`, "{\"a\":1}\r\n", "{\"a\":\"x\u2028y\"}",
		`["a"]`, `"a"`, `{'a':1}`, `{"a":01}`, `{"a":+1}`, `{"a":tru}`, `{a:1}`, "{\"a\":\"\xff\"}", `{"a":"b`, `{"a"`, `{`,
	} {
		if _, ok := jsonTree([]byte(text)); ok {
			t.Errorf("the JSON path took %q", text)
		}
	}
}

// Problems found in a JSON template point where they do in the text, through either path.
func TestJSONProblemsKeepTheirPositions(t *testing.T) {
	src := "{\n  \"format\": \"aos/v1\",\n  \"name\": \"j\",\n  \"nodes\": {\n    \"a\": {\"manifest\": {\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"a\"}}, \"dependsOn\": [\"b\"]}\n  }\n}\n"
	_, probs := Validate("t.json", []byte(src), Params{})
	if len(probs) != 1 || probs[0].Line != 5 || !strings.Contains(probs[0].Message, `"b"`) {
		t.Fatalf("problems %v, want one at line 5 naming the missing dependency", probs)
	}
	want := strings.Index(strings.Split(src, "\n")[4], `"b"`) + 1
	if probs[0].Col != want {
		t.Fatalf("problem at column %d, want %d", probs[0].Col, want)
	}
}

// longKey reports whether a tree has a mapping key over YAML's 1,024-character limit on
// implicit keys, which JSON does not have.
func longKey(n *yaml.Node) bool {
	for i, c := range n.Content {
		if n.Kind == yaml.MappingNode && i%2 == 0 && utf8.RuneCountInString(c.Value) > 1024 || longKey(c) {
			return true
		}
	}
	return false
}

// FuzzJSONTree: whatever the JSON path takes, yaml.v3 reads as the same tree, but for what
// JSON allows and YAML does not (an escaped slash, a key over 1,024 characters). The seeds
// run as a normal test.
func FuzzJSONTree(f *testing.F) {
	f.Add([]byte(`{"a":[1,2.5,"x",{"b":null}],"é":true}`))
	f.Add([]byte("{\n \"k\": \"\\u00e9\\t\",\n\t\"n\": -0.5e-3 }"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := jsonTree(data)
		if !ok || bytes.Contains(data, []byte(`\/`)) || longKey(fast) {
			return
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatalf("the JSON path took what yaml.v3 refuses (%v): %q", err, data)
		}
		if err := sameTree(&doc, fast, "doc"); err != nil {
			t.Fatalf("%v: %q", err, data)
		}
	})
}

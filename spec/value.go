package spec

import (
	"reflect"
	"strings"
)

// Value returns the current value of a scalar or list field, by its path
// ("kubernetes.sysext.format"), as a build arg would spell it: lists
// comma-separated, sizes as written by ByteSize. ok is false for a path
// that names no such field or crosses an unset section.
func (s *Spec) Value(path string) (value string, ok bool) {
	v := reflect.ValueOf(s.Image)
	for _, name := range strings.Split(path, ".") {
		for v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return "", false
			}
			v = v.Elem()
		}
		if v.Kind() != reflect.Struct {
			return "", false
		}
		f, found := fieldByYAMLName(v.Type(), name)
		if !found {
			return "", false
		}
		v = v.FieldByIndex(f.Index)
	}
	switch {
	case v.Type() == byteSizeType:
		if v.Int() == 0 {
			return "", true
		}
		return ByteSize(v.Int()).String(), true
	case v.Kind() == reflect.String:
		return v.String(), true
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
		items := make([]string, v.Len())
		for i := range items {
			items[i] = v.Index(i).String()
		}
		return strings.Join(items, ","), true
	case v.Kind() == reflect.Slice && v.Type().Elem() == reflect.TypeOf(Image{}):
		// Only a list of release image names has a build-arg spelling.
		items := make([]string, v.Len())
		for i := range items {
			img := v.Index(i).Interface().(Image)
			if img != (Image{Name: img.Name}) {
				return "", false
			}
			items[i] = img.Name
		}
		return strings.Join(items, ","), true
	}
	return "", false
}

func fieldByYAMLName(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

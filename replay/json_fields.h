// Fields: reads the members of one JSON object (json.h) with their types
// checked, and refuses the members nobody asked for, so a damaged or
// foreign record is an error naming the field, never a default value.
//
//   Fields f(object, "event");       // "event" prefixes every message
//   f.Str("t", &thread);             // required unless told otherwise
//   f.Uint("bytes", &bytes, false);  // optional
//   if (absl::Status s = f.Done(); !s.ok()) return s;  // unknown fields too
//
// The first problem sticks; later calls do nothing.
#ifndef DETRUN_REPLAY_JSON_FIELDS_H_
#define DETRUN_REPLAY_JSON_FIELDS_H_

#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "replay/json.h"

namespace detrun::json {

class Fields {
 public:
  Fields(const Value& object, std::string_view what) : object_(object), what_(what) {
    if (!object.is_object()) Fail(absl::StrCat(std::string(what_), " is not a JSON object"));
  }

  const Value* Get(std::string_view key, bool required) {
    if (!status_.ok()) return nullptr;
    seen_.push_back(key);
    const Value* v = object_.Find(key);
    if (v == nullptr && required) {
      Fail(absl::StrCat(std::string(what_), ": missing \"", std::string(key), "\""));
    }
    return v;
  }

  void Str(std::string_view key, std::string* out, bool required = true) {
    const Value* v = Get(key, required);
    if (v == nullptr) return;
    if (!v->is_string()) return WrongType(key, "a string");
    *out = v->string();
  }

  void Int(std::string_view key, int64_t* out, bool required = true) {
    const Value* v = Get(key, required);
    if (v == nullptr) return;
    if (!v->GetInt64(out)) return WrongType(key, "a signed 64-bit integer");
  }

  void Uint(std::string_view key, uint64_t* out, bool required = true) {
    const Value* v = Get(key, required);
    if (v == nullptr) return;
    if (!v->GetUint64(out)) return WrongType(key, "an unsigned 64-bit integer");
  }

  void Int32(std::string_view key, int* out, bool required = true) {
    int64_t v = 0;
    const Value* value = Get(key, required);
    if (value == nullptr) return;
    if (!value->GetInt64(&v) || v < std::numeric_limits<int>::min() ||
        v > std::numeric_limits<int>::max()) {
      return WrongType(key, "a 32-bit integer");
    }
    *out = static_cast<int>(v);
  }

  // An int, or null for "unknown".
  void OptionalInt32(std::string_view key, std::optional<int>* out) {
    const Value* v = Get(key, true);
    if (v == nullptr) return;
    if (v->is_null()) {
      out->reset();
      return;
    }
    int64_t i;
    if (!v->GetInt64(&i) || i < std::numeric_limits<int>::min() ||
        i > std::numeric_limits<int>::max()) {
      return WrongType(key, "a 32-bit integer or null");
    }
    *out = static_cast<int>(i);
  }

  void Bool(std::string_view key, bool* out, bool required = true) {
    const Value* v = Get(key, required);
    if (v == nullptr) return;
    if (!v->is_bool()) return WrongType(key, "true or false");
    *out = v->bool_value();
  }

  void Strings(std::string_view key, std::vector<std::string>* out, bool required = true) {
    const Value* v = Get(key, required);
    if (v == nullptr) return;
    if (!v->is_array()) return WrongType(key, "an array of strings");
    out->clear();
    for (const Value& e : v->array()) {
      if (!e.is_string()) return WrongType(key, "an array of strings");
      out->push_back(e.string());
    }
  }

  void Ints(std::string_view key, std::vector<int64_t>* out) {
    const Value* v = Get(key, true);
    if (v == nullptr) return;
    if (!v->is_array()) return WrongType(key, "an array of integers");
    out->clear();
    for (const Value& e : v->array()) {
      int64_t i;
      if (!e.GetInt64(&i)) return WrongType(key, "an array of integers");
      out->push_back(i);
    }
  }

  // A string that must be one of `words`; returns its index.
  template <size_t N>
  int Choice(std::string_view key, const char* const (&words)[N]) {
    return Choice(key, std::vector<std::string_view>(std::begin(words), std::end(words)));
  }
  int Choice(std::string_view key, std::initializer_list<std::string_view> words) {
    return Choice(key, std::vector<std::string_view>(words));
  }
  int Choice(std::string_view key, const std::vector<std::string_view>& words) {
    std::string s;
    Str(key, &s);
    if (!status_.ok()) return -1;
    int i = 0;
    for (std::string_view w : words) {
      if (s == w) return i;
      ++i;
    }
    Fail(absl::StrCat(std::string(what_), ": \"", std::string(key), "\" has an unknown value \"",
                      s, "\""));
    return -1;
  }

  void Fail(std::string message) {
    if (status_.ok()) status_ = absl::InvalidArgumentError(std::move(message));
  }

  // OK when every member was read and of the right type.
  absl::Status Done() {
    if (!status_.ok()) return status_;
    for (const auto& [key, value] : object_.object()) {
      bool known = false;
      for (std::string_view s : seen_) known |= s == key;
      if (!known) {
        return absl::InvalidArgumentError(
            absl::StrCat(std::string(what_), ": unknown field \"", key, "\""));
      }
    }
    return absl::OkStatus();
  }

 private:
  void WrongType(std::string_view key, std::string_view expected) {
    Fail(absl::StrCat(std::string(what_), ": \"", std::string(key), "\" must be ",
                      std::string(expected)));
  }

  const Value& object_;
  std::string_view what_;
  std::vector<std::string_view> seen_;
  absl::Status status_;
};

}  // namespace detrun::json

#endif  // DETRUN_REPLAY_JSON_FIELDS_H_

// A small JSON reader and writer for the daemon's answers: a DOM parsed in one
// pass over the text. supervisorctl's own because Poco::JSON spends ~7 ms on
// the 130 KB of `status` at 1,000 workers, a third of the client's budget.
// Runs in the supervisorctl process.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sv::ctl::internal {

// One JSON value. Objects keep their members in document order.
struct Json {
  enum class Type : std::uint8_t { kNull, kBool, kNumber, kString, kArray, kObject };

  Type type = Type::kNull;
  bool boolean = false;
  bool integral = false;   // a number written without fraction or exponent that fits int64
  std::int64_t integer = 0;
  double number = 0;
  std::string string;
  std::vector<Json> items;                            // kArray
  std::vector<std::pair<std::string, Json>> members;  // kObject

  // The member named `key` of an object; nullptr when absent or not an object.
  const Json* Find(std::string_view key) const;
  // Typed reads of a member; `fallback` when absent or of another type.
  std::string StringOr(std::string_view key, std::string fallback = "") const;
  std::int64_t IntOr(std::string_view key, std::int64_t fallback = 0) const;
  // The member's items when it is an array, else an empty list.
  const std::vector<Json>& ItemsOf(std::string_view key) const;

  // Compact JSON text that Parse reads back to an equal value.
  std::string Write() const;
};

// Parses one JSON value (RFC 8259; nesting at most 256 deep) with nothing
// after it but white space. The error names the byte offset.
[[nodiscard]] std::expected<Json, std::string> ParseJson(std::string_view text);

// `text` as a JSON string literal, quotes included.
std::string Quote(std::string_view text);

}  // namespace sv::ctl::internal

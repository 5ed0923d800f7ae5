// Scalar parsers for config values: durations, sizes, percentages, modes, addresses.
#include "config/units.h"

#include <algorithm>
#include <array>
#include <limits>
#include <optional>
#include <utility>

#include "config/internal/text.h"

namespace sv::config {
namespace {

using internal::Quote;

struct Unit {
  std::string_view name;
  std::uint64_t factor;
};

// Largest first, so Format* can take the first that divides exactly.
constexpr std::array<Unit, 6> kDurationUnits = {{
    {"h", 3'600'000'000'000},
    {"m", 60'000'000'000},
    {"s", 1'000'000'000},
    {"ms", 1'000'000},
    {"us", 1'000},
    {"ns", 1},
}};

constexpr std::array<Unit, 9> kSizeUnits = {{
    {"TiB", 1ull << 40},
    {"TB", 1'000'000'000'000},
    {"GiB", 1ull << 30},
    {"GB", 1'000'000'000},
    {"MiB", 1ull << 20},
    {"MB", 1'000'000},
    {"KiB", 1ull << 10},
    {"KB", 1'000},
    {"B", 1},
}};

std::unexpected<std::string> Expected(std::string_view what, std::string_view got) {
  return std::unexpected("expected " + std::string(what) + ", got " + Quote(got));
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Splits "500ms" into {"500", "ms"}: the leading digits and the rest.
std::pair<std::string_view, std::string_view> SplitNumber(std::string_view text) {
  std::size_t n = 0;
  while (n < text.size() && IsDigit(text[n])) ++n;
  return {text.substr(0, n), text.substr(n)};
}

// Digits only (non-empty) to a number; nullopt on overflow or any other byte.
std::optional<std::uint64_t> Digits(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : text) {
    if (!IsDigit(c)) return std::nullopt;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

template <std::size_t N>
const Unit* FindUnit(const std::array<Unit, N>& units, std::string_view name) {
  for (const Unit& unit : units) {
    if (unit.name == name) return &unit;
  }
  return nullptr;
}

template <std::size_t N>
std::string Format(std::uint64_t value, const std::array<Unit, N>& units) {
  for (const Unit& unit : units) {
    if (value != 0 && value % unit.factor == 0) return std::to_string(value / unit.factor) + std::string(unit.name);
  }
  return std::to_string(value) + std::string(units.back().name);
}

bool AllDigits(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!IsDigit(c)) return false;
  }
  return true;
}

}  // namespace

std::expected<std::chrono::nanoseconds, std::string> ParseDuration(std::string_view text) {
  constexpr std::string_view kForm = "a duration with a unit (ns, us, ms, s, m, h), such as \"500ms\"";
  if (text == "0") return std::chrono::nanoseconds(0);
  if (text.starts_with('-') && AllDigits(SplitNumber(text.substr(1)).first)) {
    return Expected("a non-negative duration", text);
  }
  auto [number, unit_name] = SplitNumber(text);
  const Unit* unit = FindUnit(kDurationUnits, unit_name);
  if (number.empty() || unit == nullptr) return Expected(kForm, text);
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::chrono::nanoseconds::rep>::max());
  auto value = Digits(number);
  if (!value || *value > kMax / unit->factor) return Expected("a duration of at most 2562047h", text);
  return std::chrono::nanoseconds(static_cast<std::chrono::nanoseconds::rep>(*value * unit->factor));
}

std::expected<std::uint64_t, std::string> ParseSize(std::string_view text) {
  constexpr std::string_view kForm =
      "a size in bytes with an optional unit (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB), such as \"512KiB\"";
  if (text.starts_with('-') && AllDigits(SplitNumber(text.substr(1)).first)) {
    return Expected("a non-negative size", text);
  }
  auto [number, unit_name] = SplitNumber(text);
  const Unit* unit = unit_name.empty() ? &kSizeUnits.back() : FindUnit(kSizeUnits, unit_name);
  if (number.empty() || unit == nullptr) return Expected(kForm, text);
  auto value = Digits(number);
  if (!value || *value > std::numeric_limits<std::uint64_t>::max() / unit->factor) {
    return Expected("a size below 16EiB", text);
  }
  return *value * unit->factor;
}

std::expected<std::uint32_t, std::string> ParsePercent(std::string_view text) {
  std::string_view number = text.ends_with('%') ? text.substr(0, text.size() - 1) : text;
  auto value = Digits(number);
  if (!value || *value > 100) return Expected("a percentage from 0 to 100, such as \"10%\"", text);
  return static_cast<std::uint32_t>(*value);
}

std::expected<std::uint64_t, std::string> ParseUnsigned(std::string_view text) {
  if (!AllDigits(text)) return Expected("a non-negative integer", text);
  auto value = Digits(text);
  if (!value) return Expected("an integer of at most 18446744073709551615", text);
  return *value;
}

std::expected<std::uint32_t, std::string> ParseFileMode(std::string_view text) {
  std::string_view digits = text.starts_with("0o") ? text.substr(2) : text;
  if (digits.empty() || digits.find_first_not_of("01234567") != std::string_view::npos) {
    return Expected("an octal file mode such as \"0600\"", text);
  }
  digits.remove_prefix(std::min(digits.find_first_not_of('0'), digits.size()));
  if (digits.size() > 3) return Expected("a file mode of at most 0777", text);
  std::uint32_t mode = 0;
  for (char c : digits) mode = mode * 8 + static_cast<std::uint32_t>(c - '0');
  return mode;
}

std::string ListenAddress::ToString() const {
  const bool ipv6 = host.find(':') != std::string::npos;
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::expected<ListenAddress, std::string> ParseListenAddress(std::string_view text) {
  constexpr std::string_view kForm = "\"host:port\", such as \"127.0.0.1:9100\"";
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return Expected(kForm, text);
  std::string_view host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const bool bad_host = host.empty() || host.find_first_of("[]") != std::string_view::npos ||
                        (host.find(':') != std::string_view::npos && !text.starts_with('['));
  if (bad_host) return Expected(kForm, text);
  auto port = Digits(text.substr(colon + 1));
  if (!port) return Expected(kForm, text);
  if (*port < 1 || *port > 65535) return Expected("a port from 1 to 65535", text);
  return ListenAddress{std::string(host), static_cast<std::uint16_t>(*port)};
}

std::string FormatDuration(std::chrono::nanoseconds d) {
  if (d.count() == 0) return "0s";
  return Format(static_cast<std::uint64_t>(d.count()), kDurationUnits);
}

std::string FormatSize(std::uint64_t bytes) { return Format(bytes, kSizeUnits); }

}  // namespace sv::config

// config/units.h: every accepted spelling of durations, sizes, percentages,
// modes and addresses, the exact message for each kind of bad one, and the
// Format* spellings reading back to the same value.
#include "config/units.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <limits>

namespace sv::config {
namespace {

using std::chrono::nanoseconds;

template <class T>
std::string ErrorOf(const std::expected<T, std::string>& result) {
  return result ? "(no error)" : result.error();
}

TEST(ParseDurationTest, ReadsEveryUnit) {
  EXPECT_EQ(ParseDuration("7ns"), nanoseconds(7));
  EXPECT_EQ(ParseDuration("250us"), std::chrono::microseconds(250));
  EXPECT_EQ(ParseDuration("500ms"), std::chrono::milliseconds(500));
  EXPECT_EQ(ParseDuration("2s"), std::chrono::seconds(2));
  EXPECT_EQ(ParseDuration("1m"), std::chrono::minutes(1));
  EXPECT_EQ(ParseDuration("1h"), std::chrono::hours(1));
  EXPECT_EQ(ParseDuration("007s"), std::chrono::seconds(7));
}

TEST(ParseDurationTest, ReadsZeroWithOrWithoutUnit) {
  EXPECT_EQ(ParseDuration("0"), nanoseconds(0));
  EXPECT_EQ(ParseDuration("0s"), nanoseconds(0));
  EXPECT_EQ(ParseDuration("0ms"), nanoseconds(0));
}

TEST(ParseDurationTest, RejectsNumberWithoutUnitNamingTheForm) {
  EXPECT_EQ(ErrorOf(ParseDuration("500")),
            "expected a duration with a unit (ns, us, ms, s, m, h), such as \"500ms\", got \"500\"");
}

TEST(ParseDurationTest, RejectsMalformedSpellings) {
  const std::string form = "expected a duration with a unit (ns, us, ms, s, m, h), such as \"500ms\", got ";
  EXPECT_EQ(ErrorOf(ParseDuration("1.5s")), form + "\"1.5s\"");
  EXPECT_EQ(ErrorOf(ParseDuration("500 ms")), form + "\"500 ms\"");
  EXPECT_EQ(ErrorOf(ParseDuration("ms")), form + "\"ms\"");
  EXPECT_EQ(ErrorOf(ParseDuration("")), form + "\"\"");
  EXPECT_EQ(ErrorOf(ParseDuration("1d")), form + "\"1d\"");
  EXPECT_EQ(ErrorOf(ParseDuration("1S")), form + "\"1S\"");
  EXPECT_EQ(ErrorOf(ParseDuration("+1s")), form + "\"+1s\"");
  EXPECT_EQ(ErrorOf(ParseDuration("1h30m")), form + "\"1h30m\"");
}

TEST(ParseDurationTest, RejectsNegative) {
  EXPECT_EQ(ErrorOf(ParseDuration("-1s")), "expected a non-negative duration, got \"-1s\"");
}

TEST(ParseDurationTest, RejectsOverflowAtTheNanosecondRange) {
  EXPECT_EQ(ParseDuration("2562047h"), std::chrono::hours(2562047));
  EXPECT_EQ(ParseDuration("9223372036854775807ns"), nanoseconds::max());
  EXPECT_EQ(ErrorOf(ParseDuration("2562048h")), "expected a duration of at most 2562047h, got \"2562048h\"");
  EXPECT_EQ(ErrorOf(ParseDuration("9223372036854775808ns")),
            "expected a duration of at most 2562047h, got \"9223372036854775808ns\"");
  EXPECT_EQ(ErrorOf(ParseDuration("99999999999999999999999s")),
            "expected a duration of at most 2562047h, got \"99999999999999999999999s\"");
}

TEST(ParseSizeTest, ReadsPlainBytesAndEveryUnit) {
  EXPECT_EQ(ParseSize("4096"), 4096u);
  EXPECT_EQ(ParseSize("0"), 0u);
  EXPECT_EQ(ParseSize("10B"), 10u);
  EXPECT_EQ(ParseSize("2KB"), 2'000u);
  EXPECT_EQ(ParseSize("3MB"), 3'000'000u);
  EXPECT_EQ(ParseSize("2GB"), 2'000'000'000u);
  EXPECT_EQ(ParseSize("5TB"), 5'000'000'000'000u);
  EXPECT_EQ(ParseSize("512KiB"), 512u << 10);
  EXPECT_EQ(ParseSize("1MiB"), 1u << 20);
  EXPECT_EQ(ParseSize("1GiB"), 1u << 30);
  EXPECT_EQ(ParseSize("2TiB"), 2ull << 40);
}

TEST(ParseSizeTest, RejectsUnknownUnitsFractionsAndWrongCase) {
  const std::string form =
      "expected a size in bytes with an optional unit (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB), such as \"512KiB\", "
      "got ";
  EXPECT_EQ(ErrorOf(ParseSize("1mb")), form + "\"1mb\"");
  EXPECT_EQ(ErrorOf(ParseSize("1.5GiB")), form + "\"1.5GiB\"");
  EXPECT_EQ(ErrorOf(ParseSize("1 MiB")), form + "\"1 MiB\"");
  EXPECT_EQ(ErrorOf(ParseSize("1K")), form + "\"1K\"");
  EXPECT_EQ(ErrorOf(ParseSize("MiB")), form + "\"MiB\"");
  EXPECT_EQ(ErrorOf(ParseSize("")), form + "\"\"");
}

TEST(ParseSizeTest, RejectsNegative) {
  EXPECT_EQ(ErrorOf(ParseSize("-1")), "expected a non-negative size, got \"-1\"");
  EXPECT_EQ(ErrorOf(ParseSize("-5MiB")), "expected a non-negative size, got \"-5MiB\"");
}

TEST(ParseSizeTest, RejectsOverflowAt2To64) {
  EXPECT_EQ(ParseSize("18446744073709551615"), std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(ParseSize("16777215TiB"), 16777215ull << 40);
  EXPECT_EQ(ErrorOf(ParseSize("16777216TiB")), "expected a size below 16EiB, got \"16777216TiB\"");
  EXPECT_EQ(ErrorOf(ParseSize("18446744073709551616")), "expected a size below 16EiB, got \"18446744073709551616\"");
  EXPECT_EQ(ErrorOf(ParseSize("18446744073709551616KiB")),
            "expected a size below 16EiB, got \"18446744073709551616KiB\"");
}

TEST(ParsePercentTest, ReadsWithOrWithoutPercentSign) {
  EXPECT_EQ(ParsePercent("10%"), 10u);
  EXPECT_EQ(ParsePercent("10"), 10u);
  EXPECT_EQ(ParsePercent("0"), 0u);
  EXPECT_EQ(ParsePercent("100%"), 100u);
}

TEST(ParsePercentTest, RejectsOutOfRangeAndMalformed) {
  const std::string form = "expected a percentage from 0 to 100, such as \"10%\", got ";
  EXPECT_EQ(ErrorOf(ParsePercent("101")), form + "\"101\"");
  EXPECT_EQ(ErrorOf(ParsePercent("-1%")), form + "\"-1%\"");
  EXPECT_EQ(ErrorOf(ParsePercent("%")), form + "\"%\"");
  EXPECT_EQ(ErrorOf(ParsePercent("10%%")), form + "\"10%%\"");
  EXPECT_EQ(ErrorOf(ParsePercent("2.5%")), form + "\"2.5%\"");
}

TEST(ParseUnsignedTest, ReadsDigitsUpToTheMaximum) {
  EXPECT_EQ(ParseUnsigned("0"), 0u);
  EXPECT_EQ(ParseUnsigned("0042"), 42u);
  EXPECT_EQ(ParseUnsigned("18446744073709551615"), std::numeric_limits<std::uint64_t>::max());
}

TEST(ParseUnsignedTest, RejectsSignsSpacesAndOverflow) {
  EXPECT_EQ(ErrorOf(ParseUnsigned("-1")), "expected a non-negative integer, got \"-1\"");
  EXPECT_EQ(ErrorOf(ParseUnsigned("+1")), "expected a non-negative integer, got \"+1\"");
  EXPECT_EQ(ErrorOf(ParseUnsigned("1e3")), "expected a non-negative integer, got \"1e3\"");
  EXPECT_EQ(ErrorOf(ParseUnsigned("")), "expected a non-negative integer, got \"\"");
  EXPECT_EQ(ErrorOf(ParseUnsigned("18446744073709551616")),
            "expected an integer of at most 18446744073709551615, got \"18446744073709551616\"");
}

TEST(ParseFileModeTest, ReadsOctalAsChmodDoes) {
  EXPECT_EQ(ParseFileMode("0600"), 0600u);
  EXPECT_EQ(ParseFileMode("600"), 0600u);
  EXPECT_EQ(ParseFileMode("0o660"), 0660u);
  EXPECT_EQ(ParseFileMode("0"), 0u);
  EXPECT_EQ(ParseFileMode("00777"), 0777u);
}

TEST(ParseFileModeTest, RejectsNonOctalAndSpecialBits) {
  EXPECT_EQ(ErrorOf(ParseFileMode("0800")), "expected an octal file mode such as \"0600\", got \"0800\"");
  EXPECT_EQ(ErrorOf(ParseFileMode("rw")), "expected an octal file mode such as \"0600\", got \"rw\"");
  EXPECT_EQ(ErrorOf(ParseFileMode("")), "expected an octal file mode such as \"0600\", got \"\"");
  EXPECT_EQ(ErrorOf(ParseFileMode("04755")), "expected a file mode of at most 0777, got \"04755\"");
  EXPECT_EQ(ErrorOf(ParseFileMode("77777777777777777777777")),
            "expected a file mode of at most 0777, got \"77777777777777777777777\"");
}

TEST(ParseListenAddressTest, ReadsHostsAndBracketedIpv6) {
  EXPECT_EQ(ParseListenAddress("127.0.0.1:9100"), (ListenAddress{"127.0.0.1", 9100}));
  EXPECT_EQ(ParseListenAddress("localhost:1"), (ListenAddress{"localhost", 1}));
  EXPECT_EQ(ParseListenAddress("[::1]:65535"), (ListenAddress{"::1", 65535}));
  EXPECT_EQ(ParseListenAddress("[::1]:9100")->ToString(), "[::1]:9100");
  EXPECT_EQ(ParseListenAddress("0.0.0.0:80")->ToString(), "0.0.0.0:80");
}

TEST(ParseListenAddressTest, RejectsMissingPartsAndBadPorts) {
  const std::string form = "expected \"host:port\", such as \"127.0.0.1:9100\", got ";
  EXPECT_EQ(ErrorOf(ParseListenAddress("9100")), form + "\"9100\"");
  EXPECT_EQ(ErrorOf(ParseListenAddress(":9100")), form + "\":9100\"");
  EXPECT_EQ(ErrorOf(ParseListenAddress("host:")), form + "\"host:\"");
  EXPECT_EQ(ErrorOf(ParseListenAddress("host:http")), form + "\"host:http\"");
  EXPECT_EQ(ErrorOf(ParseListenAddress("::1:9100")), form + "\"::1:9100\"");
  EXPECT_EQ(ErrorOf(ParseListenAddress("[]:9100")), form + "\"[]:9100\"");
  EXPECT_EQ(ErrorOf(ParseListenAddress("host:0")), "expected a port from 1 to 65535, got \"host:0\"");
  EXPECT_EQ(ErrorOf(ParseListenAddress("host:65536")), "expected a port from 1 to 65535, got \"host:65536\"");
}

TEST(FormatDurationTest, UsesTheLargestExactUnitAndReadsBack) {
  EXPECT_EQ(FormatDuration(std::chrono::milliseconds(1500)), "1500ms");
  EXPECT_EQ(FormatDuration(std::chrono::seconds(120)), "2m");
  EXPECT_EQ(FormatDuration(std::chrono::hours(3)), "3h");
  EXPECT_EQ(FormatDuration(nanoseconds(1001)), "1001ns");
  EXPECT_EQ(FormatDuration(nanoseconds(0)), "0s");
  for (nanoseconds d : {nanoseconds(1), nanoseconds(20'000), nanoseconds::max()}) {
    EXPECT_EQ(ParseDuration(FormatDuration(d)), d);
  }
}

TEST(FormatSizeTest, UsesTheLargestExactUnitAndReadsBack) {
  EXPECT_EQ(FormatSize(4096), "4KiB");
  EXPECT_EQ(FormatSize(1u << 30), "1GiB");
  EXPECT_EQ(FormatSize(2'000'000'000), "2GB");
  EXPECT_EQ(FormatSize(4097), "4097B");
  EXPECT_EQ(FormatSize(0), "0B");
  for (std::uint64_t bytes : {std::uint64_t{1}, std::uint64_t{3} << 40, std::numeric_limits<std::uint64_t>::max()}) {
    EXPECT_EQ(ParseSize(FormatSize(bytes)), bytes);
  }
}

TEST(UnitsTest, QuotesAndEscapesWhatItGot) {
  EXPECT_EQ(ErrorOf(ParseSize("a\"b\\c\n")),
            "expected a size in bytes with an optional unit (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB), such as "
            "\"512KiB\", got \"a\\\"b\\\\c\\n\"");
}

}  // namespace
}  // namespace sv::config

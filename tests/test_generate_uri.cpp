// parse_generate_params: both forms of a see2ai://generate URI, as written and as ges-launch-1.0
// hands the path form on (its escapes decoded once, nothing after a '?' kept).
#include <gtest/gtest.h>

#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "generate_uri.h"

using see2ai::decode_percent_escapes;
using see2ai::parse_generate_params;
using see2ai::UriParam;

namespace {

bool known(const std::string &name) {
  static const std::set<std::string> names = {"prompt", "duration", "resolution", "first-frame-url",
                                              "video-urls"};
  return names.count(name) > 0;
}

std::vector<std::string> flat(const std::vector<UriParam> &params) {
  std::vector<std::string> out;
  for (const auto &param : params) out.push_back(param.name + "=" + param.value);
  return out;
}

TEST(GenerateUri, QueryFormIsPercentDecoded) {
  EXPECT_EQ(flat(parse_generate_params("?prompt=a%20red%20fox&duration=5", known)),
            (std::vector<std::string>{"prompt=a red fox", "duration=5"}));
  EXPECT_TRUE(parse_generate_params("", known).empty());
  EXPECT_TRUE(parse_generate_params("?", known).empty());
  EXPECT_EQ(flat(parse_generate_params("?prompt=fox#part", known)),
            (std::vector<std::string>{"prompt=fox"}));
}

TEST(GenerateUri, PathFormTakesTheSameParameters) {
  EXPECT_EQ(flat(parse_generate_params("/prompt=a%20red%20fox/duration=5/resolution=480p", known)),
            (std::vector<std::string>{"prompt=a red fox", "duration=5", "resolution=480p"}));
  // A trailing slash is nothing.
  EXPECT_EQ(flat(parse_generate_params("/prompt=fox/", known)),
            (std::vector<std::string>{"prompt=fox"}));
}

TEST(GenerateUri, PathFormAsGesLaunchHandsItOnKeepsQuestionMarksSpacesAndSlashes) {
  // ges-launch-1.0 decoded "%3F" and "%20" before the element sees the URI.
  EXPECT_EQ(flat(parse_generate_params("/prompt=is it a fox? 100% sure/duration=4", known)),
            (std::vector<std::string>{"prompt=is it a fox? 100% sure", "duration=4"}));
  // A URL value keeps its slashes; the next known name starts the next parameter.
  EXPECT_EQ(flat(parse_generate_params(
                "/first-frame-url=https://cdn.example/a/b.png?x=1/prompt=a/b/duration=4", known)),
            (std::vector<std::string>{"first-frame-url=https://cdn.example/a/b.png?x=1",
                                      "prompt=a/b", "duration=4"}));
  // Repeated names stay repeated (arrays).
  EXPECT_EQ(
      flat(parse_generate_params("/video-urls=https://a/1.mp4/video-urls=https://a/2.mp4", known)),
      (std::vector<std::string>{"video-urls=https://a/1.mp4", "video-urls=https://a/2.mp4"}));
}

TEST(GenerateUri, MistakesAreRefusedWithWhatIsWrong_n) {
  try {
    parse_generate_params("/prompt=fox/colour=blue", known);
    FAIL() << "a misspelt property became part of the prompt";
  } catch (const std::invalid_argument &error) {
    EXPECT_NE(std::string(error.what()).find("colour"), std::string::npos) << error.what();
  }
  EXPECT_THROW(parse_generate_params("/fox", known), std::invalid_argument);
  EXPECT_THROW(parse_generate_params("?fox", known), std::invalid_argument);
  EXPECT_THROW(parse_generate_params("?=fox", known), std::invalid_argument);
  EXPECT_THROW(parse_generate_params("prompt=fox", known), std::invalid_argument);
}

TEST(GenerateUri, PercentDecodingKeepsALoneSign) {
  EXPECT_EQ(decode_percent_escapes("a%20b%2Fc%3f"), "a b/c?");
  EXPECT_EQ(decode_percent_escapes("100%"), "100%");
  EXPECT_EQ(decode_percent_escapes("50% off"), "50% off");
  EXPECT_EQ(decode_percent_escapes("%zz%4"), "%zz%4");
}

}  // namespace

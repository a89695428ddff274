// Tests of the request/output mapping: validation rules, advisories, JSON in both directions,
// tolerant task states, error bodies and the cache key.
#include <glib.h>
#include <gtest/gtest.h>
#include <json-glib/json-glib.h>

#include <set>
#include <stdexcept>
#include <string>

#include "generation_request.h"
#include "task_output.h"

namespace see2ai {
namespace {

constexpr const char *kApiUrl = "https://see2ai.com";

// Requests here are value-initialized (`{}`): gcc 12 at -O3 otherwise takes assigning a literal to
// one of their optional strings for a read of an uninitialized one (-Wmaybe-uninitialized).

GenerationRequest prompt_request(const std::string &prompt = "a red fox runs through snow") {
  GenerationRequest request{};
  request.prompt = prompt;
  return request;
}

// A parsed JSON object that stays alive for the assertions.
class JsonDocument {
 public:
  explicit JsonDocument(const std::string &text) : parser_(json_parser_new()) {
    GError *error = nullptr;
    if (!json_parser_load_from_data(parser_, text.c_str(), -1, &error)) {
      std::string message = error->message;
      g_error_free(error);
      throw std::runtime_error("invalid JSON in test: " + message);
    }
    JsonNode *root = json_parser_get_root(parser_);
    if (!JSON_NODE_HOLDS_OBJECT(root)) throw std::runtime_error("not an object in test");
    object_ = json_node_get_object(root);
  }
  ~JsonDocument() { g_object_unref(parser_); }
  JsonDocument(const JsonDocument &) = delete;
  JsonDocument &operator=(const JsonDocument &) = delete;

  bool has(const char *name) const { return json_object_has_member(object_, name); }
  bool is_null(const char *name) const {
    return JSON_NODE_HOLDS_NULL(json_object_get_member(object_, name));
  }
  std::string string(const char *name) const {
    return json_object_get_string_member(object_, name);
  }
  int64_t integer(const char *name) const { return json_object_get_int_member(object_, name); }
  bool boolean(const char *name) const { return json_object_get_boolean_member(object_, name); }
  std::vector<std::string> strings(const char *name) const {
    std::vector<std::string> list;
    JsonArray *array = json_object_get_array_member(object_, name);
    for (guint i = 0; i < json_array_get_length(array); ++i)
      list.emplace_back(json_array_get_string_element(array, i));
    return list;
  }
  size_t size() const { return json_object_get_size(object_); }

 private:
  JsonParser *parser_;
  JsonObject *object_ = nullptr;
};

void expect_error(const GenerationRequest &request, const std::string &field,
                  const std::string &fragment) {
  std::optional<FieldError> error = validate(request);
  ASSERT_TRUE(error.has_value()) << "expected an error on " << field;
  EXPECT_EQ(error->field, field);
  EXPECT_NE(error->message.find(field + ":"), std::string::npos) << error->message;
  EXPECT_NE(error->message.find(fragment), std::string::npos) << error->message;
}

void expect_parse_error(const std::string &body, const std::string &field) {
  ParsedRequest parsed = parse_request_json(body);
  ASSERT_TRUE(parsed.error.has_value()) << body;
  EXPECT_EQ(parsed.error->field, field) << parsed.error->message;
  EXPECT_NE(parsed.error->message.find(field), std::string::npos) << parsed.error->message;
}

// ---------------------------------------------------------------- models

TEST(Model, IdsRoundTrip) {
  EXPECT_STREQ(model_id(Model::Standard), "doubao-seedance-2-0-260128");
  EXPECT_STREQ(model_id(Model::Fast), "doubao-seedance-2-0-fast-260128");
  EXPECT_EQ(model_from_id("doubao-seedance-2-0-260128"), Model::Standard);
  EXPECT_EQ(model_from_id("doubao-seedance-2-0-fast-260128"), Model::Fast);
}

TEST(Model, UnknownIdIsRejected_n) {
  EXPECT_FALSE(model_from_id("").has_value());
  EXPECT_FALSE(model_from_id("doubao-seedance-2-0").has_value());
  EXPECT_FALSE(model_from_id("DOUBAO-SEEDANCE-2-0-260128").has_value());
  EXPECT_FALSE(model_from_id(" doubao-seedance-2-0-260128").has_value());
}

// ---------------------------------------------------------------- validate

TEST(Validate, DefaultsWithPromptAreLegal) {
  EXPECT_FALSE(validate(prompt_request()).has_value());
}

TEST(Validate, DurationBoundsAreLegal) {
  for (int duration : {-1, 4, 5, 10, 15}) {
    GenerationRequest request = prompt_request();
    request.duration = duration;
    EXPECT_FALSE(validate(request).has_value()) << duration;
  }
}

TEST(Validate, DurationOutOfRange_n) {
  for (int duration : {-2, 0, 1, 3, 16, 100, -100}) {
    GenerationRequest request = prompt_request();
    request.duration = duration;
    expect_error(request, "duration", "(got " + std::to_string(duration) + ")");
  }
}

TEST(Validate, DurationMessageIsExact_n) {
  GenerationRequest request = prompt_request();
  request.duration = 3;
  ASSERT_TRUE(validate(request).has_value());
  EXPECT_EQ(validate(request)->message, "duration: must be -1 or between 4 and 15 (got 3)");
}

TEST(Validate, ResolutionsAreLegal) {
  for (const char *resolution : {"720p", "480p"}) {
    GenerationRequest request = prompt_request();
    request.resolution = resolution;
    EXPECT_FALSE(validate(request).has_value()) << resolution;
  }
}

TEST(Validate, UnknownResolution_n) {
  for (const char *resolution : {"1080p", "720P", "", "720"}) {
    GenerationRequest request = prompt_request();
    request.resolution = resolution;
    expect_error(request, "resolution", "720p or 480p");
  }
}

TEST(Validate, AspectRatiosAreLegal) {
  for (const char *ratio : {"adaptive", "16:9", "9:16", "1:1", "21:9", "4:3", "3:4"}) {
    GenerationRequest request = prompt_request();
    request.aspect_ratio = ratio;
    EXPECT_FALSE(validate(request).has_value()) << ratio;
  }
}

TEST(Validate, UnknownAspectRatio_n) {
  for (const char *ratio : {"2:1", "16/9", "Adaptive", "", "auto"}) {
    GenerationRequest request = prompt_request();
    request.aspect_ratio = ratio;
    expect_error(request, "aspect_ratio", "must be one of");
  }
}

TEST(Validate, HugeBadValueIsEchoedCapped_n) {
  GenerationRequest request = prompt_request();
  request.aspect_ratio = std::string(100000, 'x');
  std::optional<FieldError> error = validate(request);
  ASSERT_TRUE(error.has_value());
  EXPECT_LT(error->message.size(), 300u);
  EXPECT_NE(error->message.find("..."), std::string::npos);
}

TEST(Validate, ThreeVideosInTotalAreLegal) {
  GenerationRequest request = prompt_request();
  request.video_url = "https://example.com/v0.mp4";
  request.video_urls = {"https://example.com/v1.mp4", "https://example.com/v2.mp4"};
  EXPECT_FALSE(validate(request).has_value());
  request.video_url.reset();
  request.video_urls.push_back("https://example.com/v3.mp4");
  EXPECT_FALSE(validate(request).has_value());
}

TEST(Validate, FourVideosInTotal_n) {
  GenerationRequest request = prompt_request();
  request.video_url = "https://example.com/v0.mp4";
  request.video_urls = {"https://example.com/v1.mp4", "https://example.com/v2.mp4",
                        "https://example.com/v3.mp4"};
  expect_error(request, "video_urls", "at most 3");
  request.video_url.reset();
  request.video_urls.push_back("https://example.com/v4.mp4");
  expect_error(request, "video_urls", "(got 4)");
}

TEST(Validate, ThreeAudiosInTotalAreLegal) {
  GenerationRequest request = prompt_request();
  request.audio_url = "https://example.com/a0.mp3";
  request.audio_urls = {"https://example.com/a1.mp3", "https://example.com/a2.mp3"};
  EXPECT_FALSE(validate(request).has_value());
}

TEST(Validate, FourAudiosInTotal_n) {
  GenerationRequest request = prompt_request();
  request.audio_url = "https://example.com/a0.mp3";
  request.audio_urls = {"https://example.com/a1.mp3", "https://example.com/a2.mp3",
                        "https://example.com/a3.mp3"};
  expect_error(request, "audio_urls", "at most 3");
}

TEST(Validate, NineImagesInTotalAreLegal) {
  GenerationRequest request = prompt_request();
  request.non_face_image_url = "https://example.com/i.png";
  request.face_image_url = "https://example.com/face.png";
  for (int i = 0; i < 7; ++i)
    request.non_face_image_urls.push_back("https://example.com/" + std::to_string(i) + ".png");
  // First and last frames are not reference images.
  request.first_frame_url = "https://example.com/first.png";
  request.last_frame_url = "https://example.com/last.png";
  EXPECT_FALSE(validate(request).has_value());
}

TEST(Validate, TenImagesInTotal_n) {
  GenerationRequest request = prompt_request();
  request.face_image_url = "https://example.com/face.png";
  for (int i = 0; i < 9; ++i)
    request.non_face_image_urls.push_back("https://example.com/" + std::to_string(i) + ".png");
  expect_error(request, "non_face_image_urls", "(got 10)");
}

TEST(Validate, HttpAndHttpsUrlsAreLegal) {
  GenerationRequest request = prompt_request();
  request.first_frame_url = "http://127.0.0.1:8080/first.png";
  request.last_frame_url = "HTTPS://Example.COM/last.png?sig=abc#x";
  EXPECT_FALSE(validate(request).has_value());
}

TEST(Validate, BadUrlNamesTheExactField_n) {
  const std::vector<std::string> bad = {"",
                                        "example.com/a.png",
                                        "/a.png",
                                        "ftp://example.com/a.png",
                                        "file:///etc/passwd",
                                        "http://",
                                        "http:///a.png",
                                        "https://exa mple.com/a.png",
                                        "http://exa%20mple.com/a.png",
                                        "https://e.com/a b.png",
                                        "https://e.com/a\nb.png",
                                        "http://e.com:99999/a.png",
                                        "data:image/png;base64,AAAA"};
  for (const std::string &url : bad) {
    GenerationRequest request = prompt_request();
    request.video_urls = {"https://example.com/ok.mp4", url};
    expect_error(request, "video_urls[1]", "absolute http:// or https:// URL");
  }
}

TEST(Validate, EachUrlFieldIsChecked_n) {
  const std::string bad = "ftp://example.com/x";
  struct Case {
    std::string field;
    void (*set)(GenerationRequest &, const std::string &);
  };
  const std::vector<Case> cases = {
      {"non_face_image_url",
       [](GenerationRequest &r, const std::string &u) { r.non_face_image_url = u; }},
      {"non_face_image_urls[0]",
       [](GenerationRequest &r, const std::string &u) { r.non_face_image_urls = {u}; }},
      {"face_image_url", [](GenerationRequest &r, const std::string &u) { r.face_image_url = u; }},
      {"video_url", [](GenerationRequest &r, const std::string &u) { r.video_url = u; }},
      {"video_urls[0]", [](GenerationRequest &r, const std::string &u) { r.video_urls = {u}; }},
      {"audio_url", [](GenerationRequest &r, const std::string &u) { r.audio_url = u; }},
      {"audio_urls[0]", [](GenerationRequest &r, const std::string &u) { r.audio_urls = {u}; }},
      {"first_frame_url",
       [](GenerationRequest &r, const std::string &u) { r.first_frame_url = u; }},
      {"last_frame_url", [](GenerationRequest &r, const std::string &u) { r.last_frame_url = u; }},
  };
  for (const Case &c : cases) {
    GenerationRequest request = prompt_request();
    c.set(request, bad);
    expect_error(request, c.field, "URL");
  }
}

TEST(Validate, UrlErrorDoesNotEchoTheUrl_n) {
  GenerationRequest request = prompt_request();
  request.face_image_url = "ftp://user:secret-token@example.com/a.png";
  std::optional<FieldError> error = validate(request);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->message.find("secret-token"), std::string::npos);
}

TEST(Validate, EmptyOptionalUrlCountsAsAbsent) {
  GenerationRequest request = prompt_request();
  request.video_url = "";
  request.first_frame_url = "";
  EXPECT_FALSE(validate(request).has_value());
}

TEST(Validate, EachSourceAloneIsEnough) {
  const std::vector<void (*)(GenerationRequest &)> sources = {
      [](GenerationRequest &r) { r.prompt = "x"; },
      [](GenerationRequest &r) { r.non_face_image_url = "https://e.com/a.png"; },
      [](GenerationRequest &r) { r.non_face_image_urls = {"https://e.com/a.png"}; },
      [](GenerationRequest &r) { r.face_image_url = "https://e.com/a.png"; },
      [](GenerationRequest &r) { r.first_frame_url = "https://e.com/a.png"; },
      [](GenerationRequest &r) { r.last_frame_url = "https://e.com/a.png"; },
      [](GenerationRequest &r) { r.video_url = "https://e.com/a.mp4"; },
      [](GenerationRequest &r) { r.video_urls = {"https://e.com/a.mp4"}; },
  };
  for (size_t i = 0; i < sources.size(); ++i) {
    GenerationRequest request{};
    sources[i](request);
    EXPECT_FALSE(validate(request).has_value()) << "source " << i;
  }
}

TEST(Validate, NothingToGenerateFrom_n) {
  expect_error(GenerationRequest{}, "prompt", "required");
}

TEST(Validate, BlankPromptIsNoPrompt_n) {
  for (const char *prompt : {"", " ", " \t\n\r "}) {
    GenerationRequest request{};
    request.prompt = prompt;
    expect_error(request, "prompt", "required");
  }
}

TEST(Validate, AudioAloneIsNotEnough_n) {
  GenerationRequest request{};
  request.audio_url = "https://example.com/a.mp3";
  request.audio_urls = {"https://example.com/b.mp3"};
  expect_error(request, "prompt", "audio cannot be the only reference");
  request.prompt = "dance to this";
  EXPECT_FALSE(validate(request).has_value());
}

TEST(Validate, InvalidUtf8Prompt_n) {
  expect_error(prompt_request("caf\xc3"), "prompt", "UTF-8");
  std::string with_nul = "a";
  with_nul.push_back('\0');
  expect_error(prompt_request(with_nul), "prompt", "UTF-8");
}

TEST(Validate, InvalidUtf8Url_n) {
  GenerationRequest request = prompt_request();
  request.last_frame_url = "https://e.com/\xff.png";
  expect_error(request, "last_frame_url", "URL");
}

TEST(Validate, NonAsciiUrlIsLegal) {
  GenerationRequest request = prompt_request();
  request.first_frame_url = "https://e.com/\xE9\x9B\xAA.png";
  EXPECT_FALSE(validate(request).has_value());
}

TEST(Validate, EchoedBadValueIsValidUtf8_n) {
  GenerationRequest request = prompt_request();
  request.resolution =
      "7\xff"
      "20p";
  std::optional<FieldError> error = validate(request);
  ASSERT_TRUE(error.has_value());
  EXPECT_TRUE(
      g_utf8_validate(error->message.data(), static_cast<gssize>(error->message.size()), nullptr));
}

// ---------------------------------------------------------------- advisories

TEST(Advisories, NoneForAPlainRequest) {
  EXPECT_TRUE(advisories(prompt_request()).empty());
}

TEST(Advisories, ForceAssetUploadIsDiscouraged) {
  GenerationRequest request = prompt_request();
  request.force_asset_upload = true;
  request.face_image_url = "https://example.com/face.png";
  EXPECT_FALSE(validate(request).has_value());
  ASSERT_EQ(advisories(request),
            std::vector<std::string>{"force_asset_upload=true re-uploads every asset: slow and "
                                     "expensive; leave it off unless direct upload keeps failing"});
}

TEST(Advisories, FirstFrameWithFixedAspect) {
  GenerationRequest request = prompt_request();
  request.first_frame_url = "https://example.com/first.png";
  EXPECT_TRUE(advisories(request).empty());
  request.aspect_ratio = "9:16";
  ASSERT_EQ(advisories(request),
            std::vector<std::string>{"aspect_ratio=9:16 with first_frame_url: the first frame's "
                                     "aspect is kept only with adaptive"});
}

TEST(Advisories, FixedAspectWithoutFirstFrameIsFine) {
  GenerationRequest request = prompt_request();
  request.aspect_ratio = "16:9";
  request.last_frame_url = "https://example.com/last.png";
  EXPECT_TRUE(advisories(request).empty());
}

TEST(Advisories, WebSearchWithoutPrompt) {
  GenerationRequest request{};
  request.first_frame_url = "https://example.com/first.png";
  request.enable_web_search = true;
  ASSERT_EQ(advisories(request),
            std::vector<std::string>{
                "enable_web_search=true without a prompt: there is nothing to search for"});
  request.prompt = "  ";
  EXPECT_EQ(advisories(request).size(), 1u);
  request.prompt = "today's weather in Paris";
  EXPECT_TRUE(advisories(request).empty());
}

TEST(Advisories, AllAtOnceInStableOrder) {
  GenerationRequest request{};
  request.first_frame_url = "https://example.com/first.png";
  request.aspect_ratio = "1:1";
  request.enable_web_search = true;
  request.force_asset_upload = true;
  std::vector<std::string> advice = advisories(request);
  ASSERT_EQ(advice.size(), 3u);
  EXPECT_EQ(advice[0].rfind("force_asset_upload=true", 0), 0u);
  EXPECT_EQ(advice[1].rfind("aspect_ratio=1:1", 0), 0u);
  EXPECT_EQ(advice[2].rfind("enable_web_search=true", 0), 0u);
}

TEST(Advisories, TheFaceImageGivenAsNonFaceTooIsNamed) {
  GenerationRequest request = prompt_request();
  request.face_image_url = "https://example.com/me.jpg";
  request.non_face_image_urls = {"https://example.com/room.jpg"};
  EXPECT_TRUE(advisories(request).empty());
  request.non_face_image_urls.push_back("https://example.com/me.jpg");
  ASSERT_EQ(advisories(request),
            std::vector<std::string>{"non_face_image_urls=https://example.com/me.jpg: this is the "
                                     "face image (face_image_url); an image with a real face "
                                     "belongs only in face_image_url"});
  request.non_face_image_urls.clear();
  request.non_face_image_url = "https://example.com/me.jpg";
  ASSERT_EQ(advisories(request).size(), 1u);
  EXPECT_EQ(advisories(request)[0].rfind("non_face_image_url=https://example.com/me.jpg: ", 0), 0u);
  request.face_image_url.reset();
  EXPECT_TRUE(advisories(request).empty());
}

// ---------------------------------------------------------------- to_json

TEST(RequestJson, DefaultsAreAlwaysPresentAndEmptiesOmitted) {
  GenerationRequest request{};
  request.prompt = "";
  request.video_url = "";
  JsonDocument json(to_json(request));
  EXPECT_EQ(json.string("model_name"), "doubao-seedance-2-0-260128");
  EXPECT_EQ(json.integer("duration"), 5);
  EXPECT_EQ(json.string("resolution"), "720p");
  EXPECT_EQ(json.string("aspect_ratio"), "adaptive");
  EXPECT_FALSE(json.boolean("watermark"));
  EXPECT_TRUE(json.boolean("generate_audio"));
  EXPECT_FALSE(json.boolean("enable_web_search"));
  EXPECT_FALSE(json.boolean("force_asset_upload"));
  EXPECT_TRUE(json.boolean("sync"));
  for (const char *absent :
       {"prompt", "non_face_image_url", "non_face_image_urls", "face_image_url", "video_url",
        "video_urls", "audio_url", "audio_urls", "first_frame_url", "last_frame_url"}) {
    EXPECT_FALSE(json.has(absent)) << absent;
  }
  EXPECT_EQ(json.size(), 9u);
}

GenerationRequest full_request() {
  GenerationRequest request{};
  request.model = Model::Fast;
  request.prompt = "a \"quoted\" prompt\nwith 雪 and emoji \xF0\x9F\xA6\x8A";
  request.non_face_image_url = "https://example.com/n.png";
  request.non_face_image_urls = {"https://example.com/n1.png", "https://example.com/n2.png"};
  request.face_image_url = "https://example.com/f.png";
  request.video_url = "https://example.com/v.mp4";
  request.video_urls = {"https://example.com/v1.mp4"};
  request.audio_url = "https://example.com/a.mp3";
  request.audio_urls = {"https://example.com/a1.mp3", "https://example.com/a2.mp3"};
  request.first_frame_url = "https://example.com/first.png";
  request.last_frame_url = "https://example.com/last.png";
  request.duration = -1;
  request.resolution = "480p";
  request.aspect_ratio = "21:9";
  request.watermark = true;
  request.generate_audio = false;
  request.enable_web_search = true;
  request.force_asset_upload = true;
  request.sync = false;
  return request;
}

void expect_same_request(const GenerationRequest &a, const GenerationRequest &b) {
  EXPECT_EQ(a.model, b.model);
  EXPECT_EQ(a.prompt, b.prompt);
  EXPECT_EQ(a.non_face_image_url, b.non_face_image_url);
  EXPECT_EQ(a.non_face_image_urls, b.non_face_image_urls);
  EXPECT_EQ(a.face_image_url, b.face_image_url);
  EXPECT_EQ(a.video_url, b.video_url);
  EXPECT_EQ(a.video_urls, b.video_urls);
  EXPECT_EQ(a.audio_url, b.audio_url);
  EXPECT_EQ(a.audio_urls, b.audio_urls);
  EXPECT_EQ(a.first_frame_url, b.first_frame_url);
  EXPECT_EQ(a.last_frame_url, b.last_frame_url);
  EXPECT_EQ(a.duration, b.duration);
  EXPECT_EQ(a.resolution, b.resolution);
  EXPECT_EQ(a.aspect_ratio, b.aspect_ratio);
  EXPECT_EQ(a.watermark, b.watermark);
  EXPECT_EQ(a.generate_audio, b.generate_audio);
  EXPECT_EQ(a.enable_web_search, b.enable_web_search);
  EXPECT_EQ(a.force_asset_upload, b.force_asset_upload);
  EXPECT_EQ(a.sync, b.sync);
}

TEST(RequestJson, EveryFieldOnTheWire) {
  GenerationRequest request = full_request();
  JsonDocument json(to_json(request));
  EXPECT_EQ(json.size(), 19u);
  EXPECT_EQ(json.string("model_name"), "doubao-seedance-2-0-fast-260128");
  EXPECT_EQ(json.string("prompt"), *request.prompt);
  EXPECT_EQ(json.strings("audio_urls"), request.audio_urls);
  EXPECT_EQ(json.string("last_frame_url"), "https://example.com/last.png");
  EXPECT_EQ(json.integer("duration"), -1);
  EXPECT_FALSE(json.boolean("sync"));
}

TEST(RequestJson, FullRoundTrip) {
  GenerationRequest request = full_request();
  ParsedRequest parsed = parse_request_json(to_json(request));
  ASSERT_FALSE(parsed.error.has_value()) << parsed.error->message;
  expect_same_request(parsed.request, request);
}

TEST(RequestJson, DefaultRoundTrip) {
  GenerationRequest request = prompt_request();
  ParsedRequest parsed = parse_request_json(to_json(request));
  ASSERT_FALSE(parsed.error.has_value());
  expect_same_request(parsed.request, request);
}

TEST(RequestJson, InvalidUtf8StillGivesParseableJson_n) {
  GenerationRequest request = prompt_request("bad \xff byte");
  request.video_urls = {"https://e.com/\xfe"};
  ParsedRequest parsed = parse_request_json(to_json(request));
  ASSERT_FALSE(parsed.error.has_value()) << parsed.error->message;
  ASSERT_TRUE(parsed.request.prompt.has_value());
  EXPECT_EQ(parsed.request.prompt->rfind("bad ", 0), 0u);
  EXPECT_EQ(parsed.request.video_urls.size(), 1u);
}

TEST(RequestJson, HugePromptRoundTrips) {
  GenerationRequest request = prompt_request(std::string(1 << 20, 'p'));
  ParsedRequest parsed = parse_request_json(to_json(request));
  ASSERT_FALSE(parsed.error.has_value());
  EXPECT_EQ(parsed.request.prompt, request.prompt);
}

// ---------------------------------------------------------------- parse_request_json

TEST(ParseRequest, EmptyObjectTakesContractDefaults) {
  ParsedRequest parsed = parse_request_json("{}");
  ASSERT_FALSE(parsed.error.has_value());
  expect_same_request(parsed.request, GenerationRequest{});
  EXPECT_TRUE(parsed.request.sync);
  EXPECT_TRUE(parsed.request.generate_audio);
  EXPECT_EQ(parsed.request.duration, 5);
}

TEST(ParseRequest, NullsTakeContractDefaults) {
  ParsedRequest parsed = parse_request_json(
      R"({"prompt":null,"non_face_image_urls":null,"video_url":null,
          "duration":null,"resolution":null,"aspect_ratio":null,"watermark":null,
          "generate_audio":null,"enable_web_search":null,"force_asset_upload":null})");
  ASSERT_FALSE(parsed.error.has_value()) << parsed.error->message;
  expect_same_request(parsed.request, GenerationRequest{});
}

TEST(ParseRequest, NullWhereTheSchemaHasNoNull_n) {
  // model_name is "type": "string" and sync "type": "boolean", without the null the others allow.
  expect_parse_error(R"({"prompt":"x","model_name":null})", "model_name");
  expect_parse_error(R"({"prompt":"x","sync":null})", "sync");
  ParsedRequest parsed = parse_request_json(R"({"prompt":"x","sync":null})");
  ASSERT_TRUE(parsed.error.has_value());
  EXPECT_EQ(parsed.error->message, "sync: must not be null");
}

TEST(ParseRequest, UnknownKeysAreIgnored) {
  ParsedRequest parsed =
      parse_request_json(R"({"prompt":"x","temperature":0.5,"extra":{"a":[1,2]},"duration":7})");
  ASSERT_FALSE(parsed.error.has_value());
  EXPECT_EQ(parsed.request.prompt, "x");
  EXPECT_EQ(parsed.request.duration, 7);
}

TEST(ParseRequest, EmptyStringIsAbsent) {
  ParsedRequest parsed = parse_request_json(R"({"prompt":"","face_image_url":""})");
  ASSERT_FALSE(parsed.error.has_value());
  EXPECT_FALSE(parsed.request.prompt.has_value());
  EXPECT_FALSE(parsed.request.face_image_url.has_value());
}

TEST(ParseRequest, StringValuesAsInThePageExample) {
  ParsedRequest parsed = parse_request_json(
      R"({"prompt":"x","duration":" 10 ","watermark":"true","generate_audio":"False",
          "sync":"false","enable_web_search":"TRUE"})");
  ASSERT_FALSE(parsed.error.has_value()) << parsed.error->message;
  EXPECT_EQ(parsed.request.duration, 10);
  EXPECT_TRUE(parsed.request.watermark);
  EXPECT_FALSE(parsed.request.generate_audio);
  EXPECT_FALSE(parsed.request.sync);
  EXPECT_TRUE(parsed.request.enable_web_search);
}

TEST(ParseRequest, NegativeDurationString) {
  ParsedRequest parsed = parse_request_json(R"({"duration":"-1"})");
  ASSERT_FALSE(parsed.error.has_value());
  EXPECT_EQ(parsed.request.duration, -1);
}

TEST(ParseRequest, IntegralFloatDuration) {
  ParsedRequest parsed = parse_request_json(R"({"duration":6.0})");
  ASSERT_FALSE(parsed.error.has_value());
  EXPECT_EQ(parsed.request.duration, 6);
}

TEST(ParseRequest, OutOfRangeDurationIsKeptForValidate) {
  ParsedRequest parsed = parse_request_json(R"({"prompt":"x","duration":3})");
  ASSERT_FALSE(parsed.error.has_value());
  EXPECT_EQ(parsed.request.duration, 3);
  ASSERT_TRUE(validate(parsed.request).has_value());
  EXPECT_EQ(validate(parsed.request)->field, "duration");
}

TEST(ParseRequest, DurationNotAnInteger_n) {
  for (const char *value : {"5.5", "\"five\"", "\"5s\"", "\"\"", "true", "[5]", "{}"}) {
    expect_parse_error(std::string(R"({"duration":)") + value + "}", "duration");
  }
}

TEST(ParseRequest, DurationBeyondIntRange_n) {
  expect_parse_error(R"({"duration":99999999999})", "duration");
  expect_parse_error(R"({"duration":"-99999999999999999999999"})", "duration");
}

TEST(ParseRequest, BooleanWrongType_n) {
  for (const char *field :
       {"watermark", "generate_audio", "enable_web_search", "force_asset_upload", "sync"}) {
    for (const char *value : {"1", "0", "\"yes\"", "\"\"", "[]", "{}"}) {
      expect_parse_error(std::string("{\"") + field + "\":" + value + "}", field);
    }
  }
}

TEST(ParseRequest, StringWrongType_n) {
  for (const char *field :
       {"prompt", "non_face_image_url", "face_image_url", "video_url", "audio_url",
        "first_frame_url", "last_frame_url", "resolution", "aspect_ratio", "model_name"}) {
    for (const char *value : {"1", "true", "[\"a\"]", "{}"}) {
      expect_parse_error(std::string("{\"") + field + "\":" + value + "}", field);
    }
  }
}

TEST(ParseRequest, ListWrongType_n) {
  for (const char *field : {"non_face_image_urls", "video_urls", "audio_urls"}) {
    for (const char *value : {"\"https://e.com/a\"", "1", "{}", "true"}) {
      expect_parse_error(std::string("{\"") + field + "\":" + value + "}", field);
    }
  }
}

TEST(ParseRequest, ListEntryWrongTypeNamesTheEntry_n) {
  expect_parse_error(R"({"video_urls":["https://e.com/a.mp4", 7]})", "video_urls[1]");
  expect_parse_error(R"({"audio_urls":[null]})", "audio_urls[0]");
}

TEST(ParseRequest, ListsAreRead) {
  ParsedRequest parsed =
      parse_request_json(R"({"non_face_image_urls":["https://e.com/1","https://e.com/2"],
                             "video_urls":[],"audio_urls":["https://e.com/a"]})");
  ASSERT_FALSE(parsed.error.has_value());
  EXPECT_EQ(parsed.request.non_face_image_urls,
            (std::vector<std::string>{"https://e.com/1", "https://e.com/2"}));
  EXPECT_TRUE(parsed.request.video_urls.empty());
  EXPECT_EQ(parsed.request.audio_urls, std::vector<std::string>{"https://e.com/a"});
}

TEST(ParseRequest, BothModels) {
  EXPECT_EQ(parse_request_json(R"({"model_name":"doubao-seedance-2-0-fast-260128"})").request.model,
            Model::Fast);
  EXPECT_EQ(parse_request_json(R"({"model_name":"doubao-seedance-2-0-260128"})").request.model,
            Model::Standard);
}

TEST(ParseRequest, UnknownModel_n) {
  expect_parse_error(R"({"model_name":"gpt-video"})", "model_name");
  expect_parse_error(R"({"model_name":""})", "model_name");
}

TEST(ParseRequest, UnknownResolutionAndAspect_n) {
  expect_parse_error(R"({"resolution":"1080p"})", "resolution");
  expect_parse_error(R"({"resolution":""})", "resolution");
  expect_parse_error(R"({"aspect_ratio":"2:1"})", "aspect_ratio");
  expect_parse_error(R"({"aspect_ratio":""})", "aspect_ratio");
}

TEST(ParseRequest, NotAnObject_n) {
  for (const char *body : {"[]", "\"prompt\"", "42", "null", "true"}) {
    ParsedRequest parsed = parse_request_json(body);
    ASSERT_TRUE(parsed.error.has_value()) << body;
    EXPECT_EQ(parsed.error->field, "body");
  }
}

TEST(ParseRequest, MalformedJson_n) {
  for (const std::string &body : {std::string(), std::string("{"), std::string("{\"prompt\":}"),
                                  std::string("{\"prompt\":\"x\",}x"), std::string("<html></html>"),
                                  std::string("{\"prompt\":\"\xff\xfe\"}")}) {
    ParsedRequest parsed = parse_request_json(body);
    ASSERT_TRUE(parsed.error.has_value()) << body;
    EXPECT_EQ(parsed.error->field, "body");
  }
}

TEST(ParseRequest, EmbeddedNulIsNotSilentlyTruncated_n) {
  std::string body = "{\"prompt\":\"x\"}";
  body.push_back('\0');
  body += "garbage";
  EXPECT_TRUE(parse_request_json(body).error.has_value());
}

// ---------------------------------------------------------------- reference_urls

TEST(ReferenceUrls, FieldOrderAndNames) {
  std::vector<std::pair<std::string, std::string>> urls = reference_urls(full_request());
  std::vector<std::string> fields;
  for (const auto &entry : urls) fields.push_back(entry.first);
  EXPECT_EQ(fields, (std::vector<std::string>{
                        "non_face_image_url", "non_face_image_urls[0]", "non_face_image_urls[1]",
                        "face_image_url", "video_url", "video_urls[0]", "audio_url",
                        "audio_urls[0]", "audio_urls[1]", "first_frame_url", "last_frame_url"}));
  EXPECT_EQ(urls[2].second, "https://example.com/n2.png");
  EXPECT_EQ(urls[8].second, "https://example.com/a2.mp3");
}

TEST(ReferenceUrls, NoneForAPromptOnlyRequest) {
  GenerationRequest request = prompt_request();
  request.video_url = "";
  EXPECT_TRUE(reference_urls(request).empty());
}

// ---------------------------------------------------------------- cache_key

TEST(CacheKey, IsStableHexSha256) {
  std::string key = cache_key(full_request(), kApiUrl);
  EXPECT_EQ(key.size(), 64u);
  EXPECT_EQ(key.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(key, cache_key(full_request(), kApiUrl));
  ParsedRequest parsed = parse_request_json(to_json(full_request()));
  EXPECT_EQ(key, cache_key(parsed.request, kApiUrl));
}

TEST(CacheKey, SyncDoesNotChangeIt) {
  GenerationRequest a = prompt_request();
  GenerationRequest b = a;
  b.sync = !a.sync;
  EXPECT_EQ(cache_key(a, kApiUrl), cache_key(b, kApiUrl));
}

TEST(CacheKey, TrailingSlashesOfApiUrlDoNotChangeIt) {
  GenerationRequest request = prompt_request();
  EXPECT_EQ(cache_key(request, "https://see2ai.com"), cache_key(request, "https://see2ai.com/"));
  EXPECT_EQ(cache_key(request, "https://see2ai.com"), cache_key(request, "https://see2ai.com///"));
}

TEST(CacheKey, ApiUrlChangesIt) {
  GenerationRequest request = prompt_request();
  EXPECT_NE(cache_key(request, "https://see2ai.com"), cache_key(request, "http://127.0.0.1:8080"));
  EXPECT_NE(cache_key(request, "https://see2ai.com"), cache_key(request, "https://see2ai.com/v2"));
}

TEST(CacheKey, TheApiKeyIsNotPartOfIt) {
  // The key is not an input of cache_key at all; the same request and api-url give one key
  // whichever tenant asks, so the cache can be shared between keys of one deployment.
  EXPECT_EQ(cache_key(prompt_request(), kApiUrl), cache_key(prompt_request(), kApiUrl));
}

TEST(CacheKey, EveryOutputChangingFieldChangesIt) {
  const std::vector<void (*)(GenerationRequest &)> changes = {
      [](GenerationRequest &r) { r.model = Model::Fast; },
      [](GenerationRequest &r) { r.prompt = *r.prompt + "!"; },
      [](GenerationRequest &r) { r.non_face_image_url = "https://e.com/x.png"; },
      [](GenerationRequest &r) { r.non_face_image_urls = {"https://e.com/x.png"}; },
      [](GenerationRequest &r) { r.face_image_url = "https://e.com/x.png"; },
      [](GenerationRequest &r) { r.video_url = "https://e.com/x.mp4"; },
      [](GenerationRequest &r) { r.video_urls = {"https://e.com/x.mp4"}; },
      [](GenerationRequest &r) { r.audio_url = "https://e.com/x.mp3"; },
      [](GenerationRequest &r) { r.audio_urls = {"https://e.com/x.mp3"}; },
      [](GenerationRequest &r) { r.first_frame_url = "https://e.com/x.png"; },
      [](GenerationRequest &r) { r.last_frame_url = "https://e.com/x.png"; },
      [](GenerationRequest &r) { r.duration = 6; },
      [](GenerationRequest &r) { r.resolution = "480p"; },
      [](GenerationRequest &r) { r.aspect_ratio = "9:16"; },
      [](GenerationRequest &r) { r.watermark = true; },
      [](GenerationRequest &r) { r.generate_audio = false; },
      [](GenerationRequest &r) { r.enable_web_search = true; },
      [](GenerationRequest &r) { r.force_asset_upload = true; },
  };
  const std::string base = cache_key(prompt_request(), kApiUrl);
  std::set<std::string> keys = {base};
  for (size_t i = 0; i < changes.size(); ++i) {
    GenerationRequest request = prompt_request();
    changes[i](request);
    std::string key = cache_key(request, kApiUrl);
    EXPECT_NE(key, base) << "change " << i;
    keys.insert(key);
  }
  EXPECT_EQ(keys.size(), changes.size() + 1) << "two different changes gave the same key";
}

TEST(CacheKey, SameUrlInDifferentFieldsDiffers) {
  GenerationRequest as_first = prompt_request();
  as_first.first_frame_url = "https://e.com/x.png";
  GenerationRequest as_last = prompt_request();
  as_last.last_frame_url = "https://e.com/x.png";
  GenerationRequest as_single = prompt_request();
  as_single.video_url = "https://e.com/x.mp4";
  GenerationRequest as_list = prompt_request();
  as_list.video_urls = {"https://e.com/x.mp4"};
  EXPECT_NE(cache_key(as_first, kApiUrl), cache_key(as_last, kApiUrl));
  EXPECT_NE(cache_key(as_single, kApiUrl), cache_key(as_list, kApiUrl));
}

TEST(CacheKey, ListOrderAndSplitMatter) {
  GenerationRequest ab = prompt_request();
  ab.non_face_image_urls = {"https://e.com/a", "https://e.com/b"};
  GenerationRequest ba = prompt_request();
  ba.non_face_image_urls = {"https://e.com/b", "https://e.com/a"};
  EXPECT_NE(cache_key(ab, kApiUrl), cache_key(ba, kApiUrl));
  // Field boundaries cannot be shifted to produce the same canonical text.
  GenerationRequest joined = prompt_request("ab");
  GenerationRequest split = prompt_request("a");
  split.non_face_image_url = "b";
  EXPECT_NE(cache_key(joined, kApiUrl), cache_key(split, kApiUrl));
}

TEST(CacheKey, PromptWhitespaceIsSignificant) {
  // Decision (see cache_key): the prompt enters the key byte for byte.
  EXPECT_NE(cache_key(prompt_request("a fox"), kApiUrl),
            cache_key(prompt_request(" a fox "), kApiUrl));
}

TEST(CacheKey, EmptyPromptEqualsAbsentPrompt) {
  GenerationRequest absent{};
  absent.first_frame_url = "https://e.com/f.png";
  GenerationRequest empty = absent;
  empty.prompt = "";
  EXPECT_EQ(cache_key(absent, kApiUrl), cache_key(empty, kApiUrl));
}

// ---------------------------------------------------------------- task states

TEST(TaskState, EveryTolerantSpelling) {
  const std::vector<std::pair<const char *, TaskState>> cases = {
      {"success", TaskState::Succeeded},   {"succeeded", TaskState::Succeeded},
      {"SUCCEEDED", TaskState::Succeeded}, {"Completed", TaskState::Succeeded},
      {"done", TaskState::Succeeded},      {" Done\n", TaskState::Succeeded},
      {"failed", TaskState::Failed},       {"FAILURE", TaskState::Failed},
      {"error", TaskState::Failed},        {"Error ", TaskState::Failed},
      {"cancelled", TaskState::Cancelled}, {"canceled", TaskState::Cancelled},
      {"CANCELED", TaskState::Cancelled},  {"expired", TaskState::Expired},
      {"Expired", TaskState::Expired},     {"queued", TaskState::Queued},
      {"QUEUED", TaskState::Queued},       {"running", TaskState::Running},
      {"\tRunning", TaskState::Running},   {"Processing", TaskState::Pending},
      {"pending", TaskState::Pending},     {"", TaskState::Pending},
      {"succeed", TaskState::Pending},     {"in_progress", TaskState::Pending},
  };
  for (const auto &[text, state] : cases) EXPECT_EQ(parse_state(text), state) << "'" << text << "'";
}

TEST(TaskState, TerminalStates) {
  EXPECT_TRUE(is_terminal(TaskState::Succeeded));
  EXPECT_TRUE(is_terminal(TaskState::Failed));
  EXPECT_TRUE(is_terminal(TaskState::Cancelled));
  EXPECT_TRUE(is_terminal(TaskState::Expired));
  EXPECT_FALSE(is_terminal(TaskState::Queued));
  EXPECT_FALSE(is_terminal(TaskState::Running));
  EXPECT_FALSE(is_terminal(TaskState::Pending));
}

TEST(TaskState, CanonicalNamesParseBack) {
  for (TaskState state :
       {TaskState::Queued, TaskState::Running, TaskState::Pending, TaskState::Succeeded,
        TaskState::Failed, TaskState::Cancelled, TaskState::Expired}) {
    EXPECT_EQ(parse_state(state_name(state)), state) << state_name(state);
  }
  EXPECT_STREQ(state_name(TaskState::Succeeded), "succeeded");
  EXPECT_STREQ(state_name(TaskState::Cancelled), "cancelled");
}

// ---------------------------------------------------------------- parse_task_output

TEST(TaskOutputParse, FullObject) {
  TaskOutput output = parse_task_output(R"({
    "input_tokens": 12, "output_tokens": 11250, "total_tokens": 11262,
    "model": "doubao-seedance-2-0-260128", "source": "see2ai", "cost_points": 11262,
    "result_urls": ["http://127.0.0.1:1/files/t1.mp4"], "task_id": "t1", "cost_time": 4321,
    "state": "succeeded", "provider_config_id": 7, "error_message": null,
    "warnings": ["force_asset_upload=true is slow"]})");
  EXPECT_EQ(output.input_tokens, 12);
  EXPECT_EQ(output.output_tokens, 11250);
  EXPECT_EQ(output.total_tokens, 11262);
  EXPECT_EQ(output.model, "doubao-seedance-2-0-260128");
  EXPECT_EQ(output.source, "see2ai");
  EXPECT_EQ(output.cost_points, 11262);
  EXPECT_EQ(output.result_urls, std::vector<std::string>{"http://127.0.0.1:1/files/t1.mp4"});
  EXPECT_EQ(output.task_id, "t1");
  EXPECT_EQ(output.cost_time, 4321);
  EXPECT_EQ(output.state_text, "succeeded");
  EXPECT_EQ(output.state, TaskState::Succeeded);
  EXPECT_EQ(output.provider_config_id, 7);
  EXPECT_FALSE(output.error_message.has_value());
  EXPECT_EQ(output.warnings, std::vector<std::string>{"force_asset_upload=true is slow"});
}

TEST(TaskOutputParse, MinimalObjectTakesDefaults) {
  TaskOutput output = parse_task_output(R"({"task_id":"abc","state":"queued"})");
  EXPECT_EQ(output.task_id, "abc");
  EXPECT_EQ(output.state, TaskState::Queued);
  EXPECT_EQ(output.input_tokens, 0);
  EXPECT_EQ(output.total_tokens, 0);
  EXPECT_FALSE(output.cost_points.has_value());
  EXPECT_FALSE(output.cost_time.has_value());
  EXPECT_FALSE(output.provider_config_id.has_value());
  EXPECT_TRUE(output.result_urls.empty());
  EXPECT_TRUE(output.warnings.empty());
  EXPECT_TRUE(output.model.empty());
}

TEST(TaskOutputParse, NullFieldsTakeDefaults) {
  TaskOutput output = parse_task_output(
      R"({"task_id":"abc","state":"running","input_tokens":null,"output_tokens":null,
          "total_tokens":null,"model":null,"source":null,"cost_points":null,"result_urls":null,
          "cost_time":null,"provider_config_id":null,"error_message":null,"warnings":null})");
  EXPECT_EQ(output.state, TaskState::Running);
  EXPECT_EQ(output.output_tokens, 0);
  EXPECT_FALSE(output.cost_points.has_value());
  EXPECT_TRUE(output.result_urls.empty());
  EXPECT_FALSE(output.error_message.has_value());
}

TEST(TaskOutputParse, WrongTypedOptionalFieldsAreIgnored) {
  TaskOutput output = parse_task_output(
      R"({"task_id":"abc","state":"running","input_tokens":"17","cost_time":12.0,
          "cost_points":{"x":1},"result_urls":"not-a-list","warnings":[1,"w",null]})");
  EXPECT_EQ(output.input_tokens, 17);
  EXPECT_EQ(output.cost_time, 12);
  EXPECT_FALSE(output.cost_points.has_value());
  EXPECT_TRUE(output.result_urls.empty());
  EXPECT_EQ(output.warnings, std::vector<std::string>{"w"});
}

TEST(TaskOutputParse, StatusWhenStateIsMissing) {
  TaskOutput output = parse_task_output(R"({"task_id":"abc","status":"Processing"})");
  EXPECT_EQ(output.state_text, "Processing");
  EXPECT_EQ(output.state, TaskState::Pending);
  output = parse_task_output(R"({"task_id":"abc","state":null,"status":"COMPLETED"})");
  EXPECT_EQ(output.state, TaskState::Succeeded);
}

TEST(TaskOutputParse, BlankStateFallsBackToStatus) {
  TaskOutput output = parse_task_output(R"({"task_id":"abc","state":"  ","status":"done"})");
  EXPECT_EQ(output.state, TaskState::Succeeded);
  EXPECT_EQ(output.state_text, "done");
}

TEST(TaskOutputParse, BlankStateAndStatus_n) {
  EXPECT_THROW(parse_task_output(R"({"task_id":"abc","state":"","status":" "})"),
               std::runtime_error);
}

TEST(TaskOutputParse, StateWinsOverStatus) {
  TaskOutput output = parse_task_output(R"({"task_id":"abc","state":"failed","status":"done"})");
  EXPECT_EQ(output.state, TaskState::Failed);
}

TEST(TaskOutputParse, NumericTaskId) {
  EXPECT_EQ(parse_task_output(R"({"task_id":123456789012,"state":"queued"})").task_id,
            "123456789012");
}

TEST(TaskOutputParse, FailedWithErrorMessage) {
  TaskOutput output =
      parse_task_output(R"({"task_id":"t","state":"failed","error_message":"content policy"})");
  EXPECT_EQ(output.state, TaskState::Failed);
  EXPECT_EQ(output.error_message, "content policy");
}

TEST(TaskOutputParse, MissingTaskId_n) {
  for (const char *body :
       {R"({"state":"queued"})", R"({"task_id":null,"state":"queued"})",
        R"({"task_id":"","state":"queued"})", R"({"task_id":["x"],"state":"queued"})"}) {
    try {
      parse_task_output(body);
      ADD_FAILURE() << "no exception for " << body;
    } catch (const std::runtime_error &error) {
      EXPECT_NE(std::string(error.what()).find("task_id"), std::string::npos) << error.what();
    }
  }
}

TEST(TaskOutputParse, MissingState_n) {
  for (const char *body :
       {R"({"task_id":"t"})", R"({"task_id":"t","state":null})", R"({"task_id":"t","state":3})"}) {
    try {
      parse_task_output(body);
      ADD_FAILURE() << "no exception for " << body;
    } catch (const std::runtime_error &error) {
      EXPECT_NE(std::string(error.what()).find("state"), std::string::npos) << error.what();
    }
  }
}

TEST(TaskOutputParse, MalformedJson_n) {
  for (const std::string &body :
       {std::string(), std::string("{"), std::string("<html>502 Bad Gateway</html>"),
        std::string("{\"task_id\":\"t\",\"state\":\"queued\""),
        std::string("{\"task_id\":\"\xff\"}")}) {
    EXPECT_THROW(parse_task_output(body), std::runtime_error) << body;
  }
}

TEST(TaskOutputParse, NotAnObject_n) {
  for (const char *body : {"[]", "null", "\"queued\"", "42"}) {
    try {
      parse_task_output(body);
      ADD_FAILURE() << "no exception for " << body;
    } catch (const std::runtime_error &error) {
      EXPECT_NE(std::string(error.what()).find("JSON object"), std::string::npos) << error.what();
    }
  }
}

TEST(TaskOutputParse, HugeStringsAreCapped) {
  const std::string huge(2 * 1024 * 1024, 'e');
  TaskOutput output =
      parse_task_output("{\"task_id\":\"t\",\"state\":\"failed\",\"error_message\":\"" + huge +
                        "\",\"model\":\"" + huge + "\"}");
  ASSERT_TRUE(output.error_message.has_value());
  EXPECT_GT(output.error_message->size(), 0u);
  EXPECT_LE(output.error_message->size(), 4096u);
  EXPECT_LE(output.model.size(), 4096u);
}

TEST(TaskOutputParse, CapKeepsUtf8Valid) {
  std::string multibyte;
  for (int i = 0; i < 3000; ++i) multibyte += "\xE9\x9B\xAA";  // 雪
  TaskOutput output = parse_task_output(
      "{\"task_id\":\"t\",\"state\":\"failed\",\"error_message\":\"" + multibyte + "\"}");
  ASSERT_TRUE(output.error_message.has_value());
  EXPECT_LT(output.error_message->size(), multibyte.size());
  EXPECT_TRUE(g_utf8_validate(output.error_message->data(),
                              static_cast<gssize>(output.error_message->size()), nullptr));
}

TEST(TaskOutputParse, HugeListIsCapped) {
  std::string urls;
  for (int i = 0; i < 10000; ++i)
    urls += std::string(i ? "," : "") + "\"https://e.com/" + std::to_string(i) + "\"";
  TaskOutput output = parse_task_output(
      "{\"task_id\":\"t\",\"state\":\"succeeded\",\"result_urls\":[" + urls + "]}");
  EXPECT_GT(output.result_urls.size(), 0u);
  EXPECT_LE(output.result_urls.size(), 64u);
  EXPECT_EQ(output.result_urls.front(), "https://e.com/0");
}

TEST(TaskOutputParse, HugeTaskIdIsRejected_n) {
  EXPECT_THROW(
      parse_task_output("{\"task_id\":\"" + std::string(100000, 't') + "\",\"state\":\"queued\"}"),
      std::runtime_error);
}

// ---------------------------------------------------------------- TaskOutput to_json

TEST(TaskOutputJson, RoundTrip) {
  TaskOutput output;
  output.input_tokens = 3;
  output.output_tokens = 4;
  output.total_tokens = 7;
  output.model = "doubao-seedance-2-0-fast-260128";
  output.source = "devserver";
  output.cost_points = 7;
  output.result_urls = {"http://127.0.0.1:9/files/a.mp4", "http://127.0.0.1:9/files/b.mp4"};
  output.task_id = "task-1";
  output.cost_time = 1500;
  output.state_text = "Completed";
  output.state = TaskState::Succeeded;
  output.provider_config_id = 2;
  output.error_message = "none \"really\"";
  output.warnings = {"w1", "w2"};
  TaskOutput back = parse_task_output(to_json(output));
  EXPECT_EQ(back.input_tokens, 3);
  EXPECT_EQ(back.output_tokens, 4);
  EXPECT_EQ(back.total_tokens, 7);
  EXPECT_EQ(back.model, output.model);
  EXPECT_EQ(back.source, output.source);
  EXPECT_EQ(back.cost_points, 7);
  EXPECT_EQ(back.result_urls, output.result_urls);
  EXPECT_EQ(back.task_id, "task-1");
  EXPECT_EQ(back.cost_time, 1500);
  EXPECT_EQ(back.state_text, "Completed");
  EXPECT_EQ(back.state, TaskState::Succeeded);
  EXPECT_EQ(back.provider_config_id, 2);
  EXPECT_EQ(back.error_message, output.error_message);
  EXPECT_EQ(back.warnings, output.warnings);
}

TEST(TaskOutputJson, InvalidUtf8StillGivesParseableJson_n) {
  TaskOutput output;
  output.task_id = "t";
  output.state = TaskState::Failed;
  output.error_message = "decoder said \xff\xfe";
  output.warnings = {"w\xc3"};
  TaskOutput back = parse_task_output(to_json(output));
  EXPECT_EQ(back.state, TaskState::Failed);
  ASSERT_TRUE(back.error_message.has_value());
  EXPECT_EQ(back.error_message->rfind("decoder said ", 0), 0u);
  EXPECT_EQ(back.warnings.size(), 1u);
}

TEST(TaskOutputJson, NullsAndCanonicalState) {
  TaskOutput output;
  output.task_id = "t";
  output.state = TaskState::Running;
  JsonDocument json(to_json(output));
  EXPECT_EQ(json.size(), 13u);
  EXPECT_EQ(json.string("state"), "running");
  EXPECT_EQ(json.integer("input_tokens"), 0);
  EXPECT_TRUE(json.is_null("cost_points"));
  EXPECT_TRUE(json.is_null("cost_time"));
  EXPECT_TRUE(json.is_null("provider_config_id"));
  EXPECT_TRUE(json.is_null("error_message"));
  EXPECT_TRUE(json.is_null("warnings"));
  EXPECT_TRUE(json.strings("result_urls").empty());
  EXPECT_EQ(json.string("model"), "");
}

// ---------------------------------------------------------------- error_body_message

TEST(ErrorBody, DetailString) {
  EXPECT_EQ(error_body_message(
                R"json({"detail":"duration: must be -1 or between 4 and 15 (got 3)"})json"),
            "duration: must be -1 or between 4 and 15 (got 3)");
}

TEST(ErrorBody, DetailListIsRenderedCompactly) {
  std::string message =
      error_body_message(R"({"detail": [ {"loc": ["body", "duration"], "msg": "bad"} ]})");
  EXPECT_EQ(message, R"([{"loc":["body","duration"],"msg":"bad"}])");
}

TEST(ErrorBody, DetailObjectIsRenderedCompactly) {
  EXPECT_EQ(error_body_message(R"({"detail": {"code": 42}})"), R"({"code":42})");
}

TEST(ErrorBody, DetailWinsOverErrorMessage) {
  EXPECT_EQ(error_body_message(R"({"detail":"sync wait timed out","task_id":"t",
                                   "error_message":"other"})"),
            "sync wait timed out");
}

TEST(ErrorBody, BlankDetailFallsBackToErrorMessage) {
  EXPECT_EQ(error_body_message(R"({"detail":" ","error_message":"render failed"})"),
            "render failed");
}

TEST(ErrorBody, NumericDetail) {
  EXPECT_EQ(error_body_message(R"({"detail":504})"), "504");
}

TEST(ErrorBody, OutputObjectErrorMessage) {
  EXPECT_EQ(error_body_message(
                R"({"task_id":"t","state":"failed","error_message":"upstream generation failed"})"),
            "upstream generation failed");
}

TEST(ErrorBody, ObjectWithoutMessageShowsTheBody) {
  EXPECT_EQ(error_body_message(R"({"task_id":"t","error_message":null})"),
            R"({"task_id":"t","error_message":null})");
}

TEST(ErrorBody, PlainTextIsTrimmed) {
  EXPECT_EQ(error_body_message("  \n Too Many Requests \r\n"), "Too Many Requests");
}

TEST(ErrorBody, MultiLineTextBecomesOneLine) {
  EXPECT_EQ(error_body_message("<html>\n<body>502</body>\n</html>"),
            "<html> <body>502</body> </html>");
}

TEST(ErrorBody, EmptyBody) {
  EXPECT_EQ(error_body_message(""), "");
}

TEST(ErrorBody, HugePlainTextIsCappedAt500Characters) {
  std::string message = error_body_message(std::string(1 << 20, 'z'));
  EXPECT_EQ(message, std::string(500, 'z') + "...");
}

TEST(ErrorBody, HugeDetailIsCapped) {
  std::string message = error_body_message("{\"detail\":\"" + std::string(100000, 'd') + "\"}");
  EXPECT_EQ(message, std::string(500, 'd') + "...");
}

TEST(ErrorBody, CapCountsCharactersNotBytes) {
  std::string text;
  for (int i = 0; i < 600; ++i) text += "\xE9\x9B\xAA";
  std::string message = error_body_message(text);
  EXPECT_EQ(g_utf8_strlen(message.c_str(), -1), 503);
  EXPECT_TRUE(g_utf8_validate(message.data(), static_cast<gssize>(message.size()), nullptr));
}

TEST(ErrorBody, InvalidUtf8IsMadeValid_n) {
  std::string body = "bad \xff\xfe bytes \xc3";
  std::string message = error_body_message(body);
  EXPECT_TRUE(g_utf8_validate(message.data(), static_cast<gssize>(message.size()), nullptr));
  EXPECT_EQ(message.rfind("bad ", 0), 0u);
  EXPECT_NE(message.find("bytes"), std::string::npos);
}

TEST(ErrorBody, InvalidUtf8InsideJsonIsMadeValid_n) {
  std::string message = error_body_message("{\"detail\":\"x\xff\"}");
  EXPECT_TRUE(g_utf8_validate(message.data(), static_cast<gssize>(message.size()), nullptr));
  EXPECT_NE(message.find("detail"), std::string::npos);
}

TEST(ErrorBody, NulBytesDoNotTruncate_n) {
  std::string body = "before";
  body.push_back('\0');
  body += "after";
  std::string message = error_body_message(body);
  EXPECT_EQ(message.rfind("before", 0), 0u);
  EXPECT_EQ(message.size() - message.rfind("after"), 5u);
  EXPECT_TRUE(g_utf8_validate(message.data(), static_cast<gssize>(message.size()), nullptr));
}

}  // namespace
}  // namespace see2ai

// Tests of parse_event(): docs/api.md's rules, one bad event at a time, NFC and aliases.
#include "daemon/pipeline/event.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <string>

namespace tinbao {
namespace {

namespace json = boost::json;

std::optional<std::string> test_canonical(std::string_view s) {
    if (s == "result_ready" || s == "received" || s == "processing") return std::string(s);
    if (s == "DA_CO_KET_QUA") return std::string("result_ready");
    if (s == "4") return std::string("processing");
    return std::nullopt;
}

json::object good_event() {
    return json::parse(R"({
      "event_id": "igate-2026-000123-result_ready",
      "occurred_at": "2026-11-27T08:15:00+07:00",
      "dossier": {
        "code": "000.00.12.H62-261120-0007",
        "status": "result_ready",
        "received_at": "2026-11-20T09:00:00+07:00",
        "appointment_at": "2026-11-30T14:00:00Z",
        "fee": 200000
      },
      "applicant": {"name": "Nguyễn Thị Ánh Tuyết", "phone": "0912345678",
                    "email": "tuyet.nguyen@example.vn", "zalo_user_id": null},
      "channels": ["zalo", "sms"],
      "data": {"counter": "Quầy số 5"},
      "extra_unknown": {"x": 1}
    })").as_object();
}

EventParse parse(const json::object& o) {
    return parse_event(json::serialize(o), test_canonical);
}

TEST(ParseEvent, GoodEventFillsEveryField) {
    EventParse r = parse(good_event());
    ASSERT_TRUE(r.event) << r.error->message << " " << r.error->field;
    EXPECT_FALSE(r.error);
    const Event& e = *r.event;
    EXPECT_EQ(e.event_id, "igate-2026-000123-result_ready");
    EXPECT_EQ(e.dossier_code, "000.00.12.H62-261120-0007");
    EXPECT_EQ(e.status, "result_ready");
    EXPECT_EQ(e.original_status, "result_ready");
    EXPECT_EQ(e.phone, "0912345678");
    EXPECT_EQ(e.email, "tuyet.nguyen@example.vn");
    EXPECT_EQ(e.zalo_user_id, "");
    EXPECT_EQ(e.channels, (std::vector<std::string>{"zalo", "sms"}));
    EXPECT_EQ(e.json.at("data").at("counter").as_string(), "Quầy số 5");
    EXPECT_EQ(e.json.at("dossier").at("fee").to_number<int64_t>(), 200000);
}

TEST(ParseEvent, AliasResolvedAndOriginalKept) {
    json::object o = good_event();
    o["dossier"].as_object()["status"] = "DA_CO_KET_QUA";
    EventParse r = parse(o);
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->status, "result_ready");
    EXPECT_EQ(r.event->original_status, "DA_CO_KET_QUA");
    EXPECT_EQ(r.event->json.at("dossier").at("status").as_string(), "result_ready");
}

TEST(ParseEvent, NfdTextBecomesNfcEverywhereKeysIncluded) {
    // "Nguyễn" decomposed: e + U+0302 (circumflex) + U+0303 (tilde).
    const std::string nfd_name = "Nguye\xCC\x82\xCC\x83n Thi\xCC\xA3";
    const std::string nfc_name = "Nguyễn Thị";
    const std::string nfd_key = "qua\xCC\x82\xCC\x80y";  // "quầy" decomposed
    json::object o = good_event();
    o["applicant"].as_object()["name"] = nfd_name;
    o["data"].as_object()[nfd_key] = nfd_name;
    EventParse r = parse(o);
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->json.at("applicant").at("name").as_string(), nfc_name);
    const json::object& data = r.event->json.at("data").as_object();
    EXPECT_TRUE(data.contains("quầy"));
    EXPECT_FALSE(data.contains(nfd_key));
    EXPECT_EQ(data.at("quầy").as_string(), nfc_name);
}

TEST(ParseEvent, NullContactsCountAsAbsent) {
    json::object o = good_event();
    auto& a = o["applicant"].as_object();
    a["phone"] = nullptr;
    a["email"] = nullptr;
    a["zalo_user_id"] = "zalo-123";
    EventParse r = parse(o);
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->zalo_user_id, "zalo-123");
    EXPECT_EQ(r.event->phone, "");
}

TEST(ParseEvent, OptionalFieldsMayBeAbsent) {
    json::object o = good_event();
    o.erase("occurred_at");
    o.erase("channels");
    o.erase("data");
    o["dossier"].as_object().erase("fee");
    EventParse r = parse(o);
    ASSERT_TRUE(r.event);
    EXPECT_TRUE(r.event->channels.empty());
}

TEST(ParseEvent, InvalidUtf8BeforeJson) {
    // Not JSON either: the UTF-8 check must come first.
    EventParse r = parse_event("{\"event_id\": \"a\xC3\x28\"", test_canonical);
    ASSERT_TRUE(r.error);
    EXPECT_FALSE(r.event);
    EXPECT_EQ(r.error->code, "invalid_utf8");
}

TEST(ParseEvent, InvalidJson) {
    for (const char* body : {"", "{", "{\"a\": 1,}", "[1 2]", "{'a': 1}", "nul"}) {
        EventParse r = parse_event(body, test_canonical);
        ASSERT_TRUE(r.error) << body;
        EXPECT_EQ(r.error->code, "invalid_json") << body;
    }
}

TEST(ParseEvent, NotAnObject) {
    for (const char* body : {"[]", "1", "\"x\"", "null"}) {
        EventParse r = parse_event(body, test_canonical);
        ASSERT_TRUE(r.error) << body;
        EXPECT_EQ(r.error->code, "invalid_event") << body;
    }
}

std::string nested(int depth) {
    // `depth` levels of nesting in total, the outermost being the event itself.
    std::string inner = "1";
    for (int i = 1; i < depth; ++i) inner = "{\"x\":" + inner + "}";
    json::object o = good_event();
    std::string s = json::serialize(o);
    s.pop_back();
    return s + ",\"deep\":" + inner + "}";
}

TEST(ParseEvent, NestingLimit) {
    EventParse ok = parse_event(nested(16), test_canonical);
    EXPECT_TRUE(ok.event) << (ok.error ? ok.error->message : "");
    EventParse r = parse_event(nested(17), test_canonical);
    ASSERT_TRUE(r.error);
    EXPECT_EQ(r.error->code, "invalid_event");
    EXPECT_NE(r.error->message.find("16"), std::string::npos);
}

TEST(ParseEvent, StringLimit) {
    json::object o = good_event();
    o["data"].as_object()["note"] = std::string(4096, 'a');
    EXPECT_TRUE(parse(o).event);
    o["data"].as_object()["note"] = std::string(4097, 'a');
    EventParse r = parse(o);
    ASSERT_TRUE(r.error);
    EXPECT_EQ(r.error->code, "invalid_event");
    EXPECT_EQ(r.error->field, "data.note");
    // Keys count too.
    json::object k = good_event();
    k["data"].as_object()[std::string(4097, 'k')] = 1;
    r = parse(k);
    ASSERT_TRUE(r.error);
    EXPECT_EQ(r.error->code, "invalid_event");
    EXPECT_EQ(r.error->field, "data");
}

TEST(ParseEvent, DossierCodeCountsCharactersNotBytes) {
    json::object o = good_event();
    std::string code;
    for (int i = 0; i < 64; ++i) code += "Đ";  // 2 bytes each
    o["dossier"].as_object()["code"] = code;
    EXPECT_TRUE(parse(o).event);
    o["dossier"].as_object()["code"] = code + "a";
    EventParse r = parse(o);
    ASSERT_TRUE(r.error);
    EXPECT_EQ(r.error->field, "dossier.code");
}

TEST(ParseEvent, Rfc3339) {
    for (const char* s : {"2026-11-27T08:15:00+07:00", "2026-11-27T08:15:00Z",
                          "2026-11-27t08:15:00.123456z", "2024-02-29T00:00:00-05:30",
                          "2016-12-31T23:59:60Z"}) {
        EXPECT_TRUE(valid_rfc3339(s)) << s;
    }
    for (const char* s : {"2026-11-27", "2026-11-27 08:15:00+07:00", "2026-11-27T08:15:00",
                          "2026-13-01T00:00:00Z", "2025-02-29T00:00:00Z", "2026-11-27T24:00:00Z",
                          "2026-11-27T08:15:00+0700", "2026-11-27T08:15:00.Z",
                          "27/11/2026 08:15", "2026-11-27T08:15:00+07:00x"}) {
        EXPECT_FALSE(valid_rfc3339(s)) << s;
    }
}

struct BadCase {
    const char* name;
    std::function<void(json::object&)> mutate;
    const char* field;
};

TEST(ParseEvent, BadEventsNameTheField) {
    const std::vector<BadCase> cases = {
        {"no event_id", [](json::object& o) { o.erase("event_id"); }, "event_id"},
        {"null event_id", [](json::object& o) { o["event_id"] = nullptr; }, "event_id"},
        {"numeric event_id", [](json::object& o) { o["event_id"] = 12; }, "event_id"},
        {"empty event_id", [](json::object& o) { o["event_id"] = ""; }, "event_id"},
        {"long event_id", [](json::object& o) { o["event_id"] = std::string(129, 'a'); },
         "event_id"},
        {"control in event_id", [](json::object& o) { o["event_id"] = "a\nb"; }, "event_id"},
        {"non-ASCII event_id", [](json::object& o) { o["event_id"] = "hồ-sơ-1"; }, "event_id"},
        {"no dossier", [](json::object& o) { o.erase("dossier"); }, "dossier"},
        {"dossier not object", [](json::object& o) { o["dossier"] = "x"; }, "dossier"},
        {"no code", [](json::object& o) { o["dossier"].as_object().erase("code"); },
         "dossier.code"},
        {"empty code", [](json::object& o) { o["dossier"].as_object()["code"] = ""; },
         "dossier.code"},
        {"no status", [](json::object& o) { o["dossier"].as_object().erase("status"); },
         "dossier.status"},
        {"unknown status", [](json::object& o) { o["dossier"].as_object()["status"] = "nope"; },
         "dossier.status"},
        {"no applicant", [](json::object& o) { o.erase("applicant"); }, "applicant"},
        {"applicant not object", [](json::object& o) { o["applicant"] = json::array(); },
         "applicant"},
        {"no contact",
         [](json::object& o) { o["applicant"] = json::object{{"name", "A"}, {"phone", ""}}; },
         "applicant"},
        {"phone a number", [](json::object& o) { o["applicant"].as_object()["phone"] = 912; },
         "applicant.phone"},
        {"bad occurred_at", [](json::object& o) { o["occurred_at"] = "27/11/2026"; },
         "occurred_at"},
        {"numeric occurred_at", [](json::object& o) { o["occurred_at"] = 1764206100; },
         "occurred_at"},
        {"bad received_at",
         [](json::object& o) { o["dossier"].as_object()["received_at"] = "2026-11-20"; },
         "dossier.received_at"},
        {"bad appointment_at",
         [](json::object& o) {
             o["dossier"].as_object()["appointment_at"] = "2026-02-30T14:00:00+07:00";
         },
         "dossier.appointment_at"},
        {"negative fee", [](json::object& o) { o["dossier"].as_object()["fee"] = -1; },
         "dossier.fee"},
        {"fractional fee", [](json::object& o) { o["dossier"].as_object()["fee"] = 1.5; },
         "dossier.fee"},
        {"string fee", [](json::object& o) { o["dossier"].as_object()["fee"] = "200000"; },
         "dossier.fee"},
        {"channels not array", [](json::object& o) { o["channels"] = "sms"; }, "channels"},
        {"unknown channel", [](json::object& o) { o["channels"] = json::array{"sms", "fax"}; },
         "channels[1]"},
        {"channel not string", [](json::object& o) { o["channels"] = json::array{1}; },
         "channels[0]"},
        {"data not object", [](json::object& o) { o["data"] = json::array{1}; }, "data"},
    };
    for (const auto& c : cases) {
        json::object o = good_event();
        c.mutate(o);
        EventParse r = parse(o);
        ASSERT_TRUE(r.error) << c.name;
        EXPECT_FALSE(r.event) << c.name;
        EXPECT_EQ(r.error->code, "invalid_event") << c.name;
        EXPECT_EQ(r.error->field, c.field) << c.name;
        EXPECT_FALSE(r.error->message.empty()) << c.name;
    }
}

TEST(ParseEvent, UnknownStatusMessageSaysWhy) {
    json::object o = good_event();
    o["dossier"].as_object()["status"] = "DANG_CHO";
    EventParse r = parse(o);
    ASSERT_TRUE(r.error);
    EXPECT_NE(r.error->message.find("DANG_CHO"), std::string::npos);
    EXPECT_NE(r.error->message.find("alias"), std::string::npos);
}

TEST(ParseEvent, DuplicateChannelsCollapse) {
    json::object o = good_event();
    o["channels"] = json::array{"sms", "sms", "email"};
    EventParse r = parse(o);
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->channels, (std::vector<std::string>{"sms", "email"}));
}

// Queued as sent: the processor parses the same bytes the API validated, not a re-serialisation.
TEST(ParseEvent, KeepsTheBytesItValidated) {
    const std::string body = json::serialize(good_event());
    EventParse r = parse_event(body, test_canonical);
    ASSERT_TRUE(r.event);
    EXPECT_EQ(r.event->raw, body);
}

// 1e400 parses as infinity, which JSON cannot carry: refused at intake (400), not accepted and
// then lost when the queued copy fails to parse again.
TEST(ParseEvent, NumbersADoubleCannotHoldAreRefused) {
    std::string huge(60000, '9');
    for (const std::string& number : {std::string("1e400"), std::string("-1e400"), huge}) {
        std::string body = json::serialize(good_event());
        body.insert(body.rfind('}'), R"(,"x":{"n":)" + number + "}");
        EventParse r = parse_event(body, test_canonical);
        ASSERT_TRUE(r.error) << number.substr(0, 10);
        EXPECT_EQ(r.error->code, "invalid_event");
        EXPECT_EQ(r.error->field, "x.n");
    }
    std::string body = json::serialize(good_event());
    body.insert(body.rfind('}'), R"(,"x":{"n":1e300,"big":123456789012345678901234567890})");
    EventParse ok = parse_event(body, test_canonical);
    ASSERT_TRUE(ok.event) << ok.error->message;
    EventParse again = parse_event(ok.event->raw, test_canonical);
    ASSERT_TRUE(again.event);
    EXPECT_EQ(again.event->json, ok.event->json);
}

// Single-line fields reach SMS text, mail bodies and log lines: no CR/LF or other controls.
TEST(ParseEvent, ControlCharactersBecomeOneSpace) {
    json::object o = good_event();
    o["dossier"].as_object()["code"] = "000.00.12\r\nBcc: x@example.com";
    o["applicant"].as_object()["name"] = "Nguyễn\tThị\x1b[31m\xc2\x9bTuyết\xe2\x80\xa8";
    o["dossier"].as_object()["note"] = "line 1\n\nline 2";
    o["data"].as_object()["list"] = json::array{
        "a\x7f"
        "b"};
    EventParse r = parse(o);
    ASSERT_TRUE(r.event) << r.error->message;
    EXPECT_EQ(r.event->dossier_code, "000.00.12 Bcc: x@example.com");
    EXPECT_EQ(r.event->json.at("applicant").at("name").as_string(), "Nguyễn Thị [31m Tuyết ");
    EXPECT_EQ(r.event->json.at("dossier").at("note").as_string(), "line 1 line 2");
    EXPECT_EQ(r.event->json.at("data").at("list").at(0).as_string(), "a b");
    // The event id stays strict: a control character in it is an error, not a space.
    o = good_event();
    o["event_id"] = "e-1\n";
    EventParse bad = parse(o);
    ASSERT_TRUE(bad.error);
    EXPECT_EQ(bad.error->field, "event_id");
}

}  // namespace
}  // namespace tinbao

// The SMPP adapter's pure parts: the PDU codec against byte vectors built from the field
// layouts of SMPP 3.4 (https://smpp.org/SMPP_v3_4_Issue1_2.pdf, sections 3.2 and 4), truncated
// and oversized PDUs, GSM 03.38 and UCS-2 text with the concatenation UDH (3GPP TS 23.038,
// 23.040), the submit_sm of a message, the receipt parser and the command_status table.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "providers/reasons.hpp"
#include "providers/smpp/inbound.hpp"
#include "providers/smpp/pdu.hpp"
#include "providers/smpp/receipt.hpp"
#include "providers/smpp/smpp.hpp"
#include "providers/smpp/status.hpp"
#include "providers/smpp/text.hpp"
#include "tests/unit/providers/test_support.hpp"

using namespace tinbao;
using namespace tinbao::smpp;

namespace {

// "00 00 00 10 ..." to bytes; spaces ignored, 'text' in quotes copied as is.
std::string bytes(std::string_view spec) {
    std::string out;
    for (std::size_t i = 0; i < spec.size();) {
        char c = spec[i];
        if (c == ' ') {
            ++i;
        } else if (c == '\'') {
            auto end = spec.find('\'', i + 1);
            out.append(spec.substr(i + 1, end - i - 1));
            i = end + 1;
        } else {
            out.push_back(
                static_cast<char>(std::stoi(std::string(spec.substr(i, 2)), nullptr, 16)));
            i += 2;
        }
    }
    return out;
}

std::string hex(std::string_view b) {
    static const char* d = "0123456789abcdef";
    std::string out;
    for (unsigned char c : b) {
        out.push_back(d[c >> 4]);
        out.push_back(d[c & 15]);
    }
    return out;
}

}  // namespace

TEST(SmppPdu, EnquireLinkIsAHeaderOnly) {
    Pdu p;
    p.command_id = cmd::kEnquireLink;
    p.sequence = 7;
    auto b = encode(p);
    ASSERT_TRUE(b);
    EXPECT_EQ(*b, bytes("00000010 00000015 00000000 00000007"));
    auto d = decode(*b);
    EXPECT_EQ(d.error, DecodeError::none);
    EXPECT_EQ(d.length, 16u);
    EXPECT_EQ(d.pdu.command_id, cmd::kEnquireLink);
    EXPECT_EQ(d.pdu.sequence, 7u);
}

TEST(SmppPdu, BindTransceiverFieldsInTheSpecificationsOrder) {
    Pdu p;
    p.command_id = cmd::kBindTransceiver;
    p.sequence = 1;
    p.system_id = "tinbao";
    p.password = "s3cret";
    p.system_type = "";
    auto b = encode(p);
    ASSERT_TRUE(b);
    // 16 header + "tinbao\0" 7 + "s3cret\0" 7 + "\0" 1 + version 1 + ton 1 + npi 1 + range 1
    EXPECT_EQ(hex(*b), hex(bytes("00000023 00000009 00000000 00000001 'tinbao' 00 's3cret' 00 00 "
                                 "34 00 00 00")));
}

TEST(SmppPdu, SubmitSmRespCarriesTheMessageId) {
    auto d = decode(bytes("00000019 80000004 00000000 0000002a '5A000001' 00"));
    ASSERT_EQ(d.error, DecodeError::none);
    EXPECT_TRUE(d.pdu.is_response());
    EXPECT_EQ(d.pdu.command_status, 0u);
    EXPECT_EQ(d.pdu.sequence, 42u);
    EXPECT_EQ(d.pdu.message_id, "5A000001");
}

TEST(SmppPdu, ARefusedBindMayComeWithoutABody) {
    auto d = decode(bytes("00000010 80000009 0000000e 00000001"));
    ASSERT_EQ(d.error, DecodeError::none);
    EXPECT_EQ(d.pdu.command_status, 0x0Eu);
    EXPECT_EQ(describe_status(d.pdu.command_status), "ESME_RINVPASWD (0x0000000e)");
    auto nack = decode(bytes("00000010 80000000 00000003 00000009"));
    ASSERT_EQ(nack.error, DecodeError::none);
    EXPECT_EQ(command_name(nack.pdu.command_id), "generic_nack");
}

TEST(SmppPdu, SubmitSmRoundTripWithTlvs) {
    Pdu p;
    p.command_id = cmd::kSubmitSm;
    p.sequence = 0x7FFFFFFF;
    p.source = {5, 0, "TINBAO"};
    p.destination = {1, 1, "84912345678"};
    p.esm_class = 0x40;
    p.registered_delivery = 1;
    p.data_coding = 8;
    p.short_message = std::string("\x05\x00\x03\x2a\x02\x01\x00\x41", 8);
    p.add(tag::kSarMsgRefNum, std::string("\x00\x2a", 2));
    auto b = encode(p);
    ASSERT_TRUE(b);
    // The fixed part after the header, byte by byte.
    EXPECT_EQ(hex(b->substr(16, 12)), hex(bytes("00 05 00 'TINBAO' 00 01 01")));
    auto d = decode(*b);
    ASSERT_EQ(d.error, DecodeError::none);
    EXPECT_EQ(d.pdu.source.value, "TINBAO");
    EXPECT_EQ(d.pdu.source.ton, 5);
    EXPECT_EQ(d.pdu.destination.value, "84912345678");
    EXPECT_EQ(d.pdu.destination.npi, 1);
    EXPECT_EQ(d.pdu.esm_class, 0x40);
    EXPECT_EQ(d.pdu.registered_delivery, 1);
    EXPECT_EQ(d.pdu.data_coding, 8);
    EXPECT_EQ(d.pdu.short_message, p.short_message);
    ASSERT_EQ(d.pdu.tlvs.size(), 1u);
    EXPECT_EQ(d.pdu.find(tag::kSarMsgRefNum)->value, std::string("\x00\x2a", 2));
    EXPECT_EQ(encode(d.pdu), b);
}

TEST(SmppPdu, EncodeRefusesFieldsOverTheirLimits) {
    Pdu p;
    p.command_id = cmd::kBindTransceiver;
    p.system_id = std::string(16, 'x');  // 15 + NUL at most
    EXPECT_FALSE(encode(p));
    p.system_id = std::string(15, 'x');
    EXPECT_TRUE(encode(p));
    p.password = "123456789";  // 8 + NUL at most
    EXPECT_FALSE(encode(p));
    Pdu s;
    s.command_id = cmd::kSubmitSm;
    s.short_message = std::string(255, 'a');
    EXPECT_FALSE(encode(s));
    s.short_message = std::string(254, 'a');
    EXPECT_TRUE(encode(s));
}

TEST(SmppPdu, TruncatedAndOversizedPdus) {
    auto whole = bytes("00000019 80000004 00000000 0000002a '5A000001' 00");
    EXPECT_EQ(decode(whole.substr(0, 10)).error, DecodeError::short_header);
    for (std::size_t n = 16; n < whole.size(); ++n)
        EXPECT_EQ(decode(whole.substr(0, n)).error, DecodeError::truncated) << n;
    EXPECT_EQ(peek_length(whole), 0x19u);
    // command_length under the header's 16 octets, or over the limit: the stream is lost.
    EXPECT_EQ(decode(bytes("0000000f 80000004 00000000 00000001")).error, DecodeError::bad_length);
    EXPECT_EQ(decode(bytes("7fffffff 80000004 00000000 00000001")).error, DecodeError::bad_length);
    // Two PDUs in a row: the first is read, its length tells where the second starts.
    auto two = whole + bytes("00000010 80000015 00000000 00000003");
    auto first = decode(two);
    ASSERT_EQ(first.error, DecodeError::none);
    EXPECT_EQ(decode(std::string_view(two).substr(first.length)).pdu.command_id,
              cmd::kEnquireLink | cmd::kResponse);
}

TEST(SmppPdu, MalformedBodies) {
    // message_id without its NUL within the PDU.
    EXPECT_EQ(decode(bytes("00000018 80000004 00000000 00000001 '5A000001'")).error,
              DecodeError::malformed);
    // A deliver_sm whose sm_length runs past the end.
    std::string deliver = bytes(
        "00 00 00 00 00000005 00000000 00000002 00 01 01 '84912345678' 00 05 00 'TINBAO' 00 "
        "04 00 00 00 00 00 00 00 00 10 'id:1'");
    deliver[3] = static_cast<char>(deliver.size());
    EXPECT_EQ(decode(deliver).error, DecodeError::malformed);
    // A TLV whose length runs past the end.
    std::string tlv = bytes(
        "00 00 00 00 00000005 00000000 00000002 00 01 01 '84912345678' 00 05 00 'TINBAO' 00 "
        "04 00 00 00 00 00 00 00 00 00 001e 0009 '5A'");
    tlv[3] = static_cast<char>(tlv.size());
    EXPECT_EQ(decode(tlv).error, DecodeError::malformed);
    // An address over data_sm's 65 octets without a NUL.
    std::string longaddr = bytes("00 00 00 00 00000005 00000000 00000002 00 01 01") +
                           std::string(80, '9') + bytes("00");
    longaddr[3] = static_cast<char>(longaddr.size());
    EXPECT_EQ(decode(longaddr).error, DecodeError::malformed);
}

TEST(SmppPdu, UnknownCommandsDecodeTheirHeaderOnly) {
    auto d = decode(bytes("00000014 00000021 00000000 00000009 01020304"));  // submit_multi
    EXPECT_EQ(d.error, DecodeError::none);
    EXPECT_FALSE(known_command(d.pdu.command_id));
    EXPECT_EQ(d.pdu.sequence, 9u);
    EXPECT_EQ(command_name(0x21), "command 0x00000021");
}

TEST(SmppText, GsmSeptetsOnePerOctetWithTheEscapeForTheExtensionTable) {
    EXPECT_EQ(hex(to_gsm("Hi @€{")),
              "48692000"
              "1b65"
              "1b28");
    EXPECT_EQ(hex(to_gsm("Ç_é")), "091105");
    EXPECT_EQ(to_gsm("ẞ"), "?");  // outside GSM 03.38
    EXPECT_EQ(from_gsm(to_gsm("Hồ sơ @ 10€")), "H? s? @ 10€");
    EXPECT_EQ(from_gsm(to_gsm("[~]|^\\")), "[~]|^\\");
}

TEST(SmppText, Ucs2BigEndianWithSurrogatePairs) {
    EXPECT_EQ(hex(to_ucs2("Hồ")), "00481ed3");
    EXPECT_EQ(hex(to_ucs2("😀")), "d83dde00");
    EXPECT_EQ(from_ucs2(to_ucs2("Hồ sơ đã có kết quả 😀")), "Hồ sơ đã có kết quả 😀");
    EXPECT_EQ(decode_text(8, to_ucs2("Đã nhận")), "Đã nhận");
    EXPECT_EQ(decode_text(3, "caf\xe9"), "café");
}

TEST(SmppText, GsmPartsOf153SeptetsNeverSplitAnEscape) {
    EXPECT_EQ(split_parts(std::string(160, 'a'), false).size(), 1u);
    auto two = split_parts(std::string(161, 'a'), false);
    ASSERT_EQ(two.size(), 2u);
    EXPECT_EQ(two[0].size(), 153u);
    EXPECT_EQ(two[1].size(), 8u);
    // '€' (0x1B 0x65) straddling octet 153: it moves whole to the second part.
    std::string text = to_gsm(std::string(152, 'a') + "€" + std::string(20, 'b'));
    auto parts = split_parts(text, false);
    ASSERT_EQ(parts.size(), 2u);
    EXPECT_EQ(parts[0].size(), 152u);
    EXPECT_EQ(hex(parts[1].substr(0, 2)), "1b65");
    EXPECT_EQ(parts[0] + parts[1], text);
}

TEST(SmppText, Ucs2PartsOf67CharactersNeverSplitASurrogatePair) {
    EXPECT_EQ(split_parts(to_ucs2(std::string(70, 'a')), true).size(), 1u);
    auto two = split_parts(to_ucs2(std::string(71, 'a')), true);
    ASSERT_EQ(two.size(), 2u);
    EXPECT_EQ(two[0].size(), 134u);
    std::string text = to_ucs2(std::string(66, 'a') + "😀" + std::string(10, 'b'));
    auto parts = split_parts(text, true);
    ASSERT_EQ(parts.size(), 2u);
    EXPECT_EQ(parts[0].size(), 132u);
    EXPECT_EQ(hex(parts[1].substr(0, 4)), "d83dde00");
}

TEST(SmppSubmit, AShortGsmMessageIsOneSubmitSm) {
    SubmitSettings s;
    s.source_addr = "TINBAO";
    std::string error;
    auto msg = test::sms_message("m-1", "Ho so 000.00.01 da co ket qua.", false);
    msg.segments = 1;
    auto pdus = submits_for(msg, s, 7, error);
    ASSERT_EQ(pdus.size(), 1u);
    const Pdu& p = pdus[0];
    EXPECT_EQ(p.command_id, cmd::kSubmitSm);
    EXPECT_EQ(p.source.ton, 5);
    EXPECT_EQ(p.source.npi, 0);
    EXPECT_EQ(p.source.value, "TINBAO");
    EXPECT_EQ(p.destination.ton, 1);
    EXPECT_EQ(p.destination.npi, 1);
    EXPECT_EQ(p.destination.value, "84912345678");
    EXPECT_EQ(p.esm_class, 0);
    EXPECT_EQ(p.registered_delivery, 1);
    EXPECT_EQ(p.data_coding, 0);
    EXPECT_EQ(p.short_message, msg.text);
}

TEST(SmppSubmit, ALongUcs2MessageGoesInNumberedPartsWithOneReference) {
    SubmitSettings s;
    s.source_addr = "TINBAO";
    std::string text;
    for (int i = 0; i < 15; ++i) text += "Hồ sơ đã có kết quả. ";  // 21 characters each: 315
    auto msg = test::sms_message("m-2", text, true);
    msg.segments = 5;
    std::string error;
    auto pdus = submits_for(msg, s, 0x2a, error);
    ASSERT_EQ(pdus.size(), 5u);
    std::string joined;
    for (std::size_t i = 0; i < pdus.size(); ++i) {
        const Pdu& p = pdus[i];
        EXPECT_EQ(p.esm_class, 0x40);
        EXPECT_EQ(p.data_coding, 8);
        EXPECT_EQ(hex(p.short_message.substr(0, 6)),
                  hex(std::string{0x05, 0x00, 0x03, 0x2a, 0x05, static_cast<char>(i + 1)}));
        EXPECT_LE(p.short_message.size(), 140u);
        joined += p.short_message.substr(6);
    }
    EXPECT_EQ(from_ucs2(joined), text);
}

TEST(SmppSubmit, PayloadModeSendsTheWholeTextInOneTlv) {
    SubmitSettings s;
    s.source_addr = "TINBAO";
    s.payload = true;
    auto msg = test::sms_message("m-3", std::string(200, 'x'), false);
    std::string error;
    auto pdus = submits_for(msg, s, 1, error);
    ASSERT_EQ(pdus.size(), 1u);
    EXPECT_EQ(pdus[0].esm_class, 0);
    EXPECT_TRUE(pdus[0].short_message.empty());
    ASSERT_NE(pdus[0].find(tag::kMessagePayload), nullptr);
    EXPECT_EQ(pdus[0].find(tag::kMessagePayload)->value, std::string(200, 'x'));
    auto round = decode(*encode(pdus[0]));
    EXPECT_EQ(round.error, DecodeError::none);
}

TEST(SmppSubmit, OverTwoHundredFiftyFivePartsIsRefused) {
    SubmitSettings s;
    s.source_addr = "TINBAO";
    std::string error;
    auto msg = test::sms_message("m-4", std::string(153 * 256, 'x'), false);
    EXPECT_TRUE(submits_for(msg, s, 1, error).empty());
    EXPECT_NE(error.find("255"), std::string::npos);
}

TEST(SmppReceipt, TheAppendixBText) {
    auto r = parse_receipt_text(
        "id:5A000001 sub:001 dlvrd:001 submit date:2612041015 done date:2612041016 stat:DELIVRD "
        "err:000 text:Ho so da co");
    EXPECT_EQ(r.id, "5A000001");
    EXPECT_EQ(r.stat, "DELIVRD");
    EXPECT_EQ(r.error, "000");
    EXPECT_EQ(r.done_date, "2612041016");
    EXPECT_EQ(r.outcome, ReceiptOutcome::delivered);
    auto u = parse_receipt_text("ID:77 SUB:001 DLVRD:000 STAT:undeliv ERR:0bf Text:x stat:DELIVRD");
    EXPECT_EQ(u.id, "77");
    EXPECT_EQ(u.stat, "UNDELIV");
    EXPECT_EQ(u.error, "0bf");
    EXPECT_EQ(u.outcome, ReceiptOutcome::failed);  // what follows text: is the text
    EXPECT_EQ(parse_receipt_text("id:1 stat:EXPIRED").outcome, ReceiptOutcome::failed);
    EXPECT_EQ(parse_receipt_text("id:1 stat:REJECTD").outcome, ReceiptOutcome::failed);
    EXPECT_EQ(parse_receipt_text("id:1 stat:ENROUTE").outcome, ReceiptOutcome::pending);
    EXPECT_EQ(parse_receipt_text("id:1 stat:ACCEPTD").outcome, ReceiptOutcome::pending);
}

TEST(SmppReceipt, TlvsWinOverTheText) {
    Pdu p;
    p.command_id = cmd::kDeliverSm;
    p.esm_class = 0x04;
    p.short_message = "id:111 sub:001 dlvrd:001 stat:DELIVRD err:000 text:";
    p.add(tag::kReceiptedMessageId, std::string("5A00000F\0", 9));
    p.add(tag::kMessageState, std::string(1, '\x05'));
    p.add(tag::kNetworkErrorCode, std::string("\x03\x00\x22", 3));
    auto r = parse_receipt(p);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->id, "5A00000F");
    EXPECT_EQ(r->stat, "UNDELIV");
    EXPECT_EQ(r->outcome, ReceiptOutcome::failed);
    EXPECT_EQ(r->error, "3/34");
}

TEST(SmppReceipt, WhatIsAReceipt) {
    Pdu mo;
    mo.command_id = cmd::kDeliverSm;
    mo.short_message = "Cam on";
    EXPECT_FALSE(is_receipt(mo));
    EXPECT_FALSE(parse_receipt(mo));
    Pdu text_only = mo;
    text_only.short_message = "id:42 stat:DELIVRD";  // esm_class 0, as some SMSCs send them
    EXPECT_TRUE(is_receipt(text_only));
    EXPECT_EQ(parse_receipt(text_only)->id, "42");
    Pdu no_id = mo;
    no_id.esm_class = 0x04;
    no_id.short_message = "stat:DELIVRD";
    EXPECT_TRUE(is_receipt(no_id));
    EXPECT_FALSE(parse_receipt(no_id));  // nothing to match it with
}

// A citizen's message sent again by the SMSC (a new sequence number, the same fields) has the
// same dedupe_key; another text, sender, or part of a long reply has another.
TEST(SmppInbound, TheSamePduSentAgainHasTheSameKey) {
    Pdu mo;
    mo.command_id = cmd::kDeliverSm;
    mo.sequence = 7;
    mo.source = {1, 1, "0987654321"};
    mo.destination = {5, 0, "UBND-VLONG"};
    mo.short_message = "Cam on";
    auto m = inbound_message(mo, "smsc", 1000, std::chrono::hours(1));
    EXPECT_EQ(m.provider, "smsc");
    EXPECT_EQ(m.from, "84987654321");
    EXPECT_EQ(m.to, "UBND-VLONG");
    EXPECT_EQ(m.text, "Cam on");
    EXPECT_EQ(m.received_ms, 1000);
    EXPECT_TRUE(m.provider_message_id.empty());
    EXPECT_EQ(m.dedupe_window, std::chrono::hours(1));
    ASSERT_TRUE(m.dedupe_key.starts_with("smpp:")) << m.dedupe_key;
    EXPECT_EQ(m.dedupe_key.find("987654321"), std::string::npos) << "a hash, not the number";

    Pdu again = mo;
    again.sequence = 8;
    EXPECT_EQ(inbound_message(again, "smsc", 9000, std::chrono::hours(1)).dedupe_key, m.dedupe_key);

    Pdu other_text = mo;
    other_text.short_message = "Cam on!";
    Pdu other_sender = mo;
    other_sender.source.value = "0987654322";
    Pdu part1 = mo, part2 = mo;  // two parts of one long reply with the same text
    part1.esm_class = part2.esm_class = 0x40;
    part1.short_message = bytes("05 00 03 2a 02 01 'Cam on'");
    part2.short_message = bytes("05 00 03 2a 02 02 'Cam on'");
    std::set<std::string> keys{m.dedupe_key};
    for (const Pdu* p : {&other_text, &other_sender, &part1, &part2})
        keys.insert(inbound_message(*p, "smsc", 1000, std::chrono::hours(1)).dedupe_key);
    EXPECT_EQ(keys.size(), 5u);
    EXPECT_EQ(inbound_message(part2, "smsc", 1000, std::chrono::hours(1)).text, "Cam on");

    EXPECT_TRUE(inbound_message(mo, "smsc", 1000, std::chrono::milliseconds(0)).dedupe_key.empty())
        << "inbound_dedupe_window 0: no recognition";
}

TEST(SmppStatus, EveryCodeIsClassified) {
    for (uint32_t code : {0x58u, 0x14u}) {
        auto s = classify_status(code);
        EXPECT_EQ(s.failure, FailureClass::retryable);
        EXPECT_EQ(s.reason, reason::kThrottled);
        EXPECT_TRUE(is_throttle(code));
    }
    EXPECT_EQ(classify_status(0x0B).failure, FailureClass::permanent);
    EXPECT_EQ(classify_status(0x0B).reason, reason::kInvalidPhone);
    EXPECT_EQ(classify_status(0x0A).reason, reason::kConfigError);
    EXPECT_EQ(classify_status(0x08).failure, FailureClass::retryable);
    EXPECT_TRUE(is_account_problem(0x0E));
    EXPECT_FALSE(is_account_problem(0x08));
    auto vendor = classify_status(0x401);
    EXPECT_EQ(vendor.failure, FailureClass::retryable);
    EXPECT_EQ(vendor.reason, reason::kProviderError);
    EXPECT_EQ(describe_status(0x401), "0x00000401");
}

TEST(SmppConfig, KeysAreChecked) {
    ProviderRegistry registry;
    register_builtin_providers(registry);
    auto* factory = registry.find("smpp");
    ASSERT_NE(factory, nullptr);
    auto settings = test::provider_settings("vnpt-smpp", "smpp", Channel::sms);
    {
        test::YamlView y(
            "host: 127.0.0.1\nport: 2775\nsystem_id: tinbao\npassword: s3cret\n"
            "source_addr: TINBAO\nbinds: 2\nenquire_link: 15s\nlong_messages: payload\n"
            "inbound_dedupe_window: 30m\n");
        ProviderContext ctx;
        EXPECT_NE(factory->create(settings, y.view, ctx), nullptr) << y.all();
    }
    {
        test::YamlView y(
            "host: 127.0.0.1\nsystem_id: a-system-id-too-long\npassword: longer-than-8\n"
            "source_addr: BRANDNAME-TOO-LONG\nenquire_link: 100ms\nlong_messages: sar\n"
            "tls_ca_file: /etc/ssl/ca.pem\nsource_ton: 9\ninbound_dedupe_window: 30d\n");
        ProviderContext ctx;
        EXPECT_EQ(factory->create(settings, y.view, ctx), nullptr);
        auto all = y.all();
        for (auto key : {"system_id", "password", "source_addr", "enquire_link", "long_messages",
                         "tls_ca_file", "source_ton", "inbound_dedupe_window"})
            EXPECT_NE(all.find(std::string("providers[0].") + key), std::string::npos)
                << key << "\n"
                << all;
    }
    {
        test::YamlView y("system_id: tinbao\n");
        ProviderContext ctx;
        EXPECT_EQ(factory->create(settings, y.view, ctx), nullptr);
        EXPECT_NE(y.all().find("providers[0].host"), std::string::npos) << y.all();
        EXPECT_NE(y.all().find("providers[0].source_addr"), std::string::npos) << y.all();
    }
}

"""飞鸽 from the buyer's side over HTTP (L4, L5 entry channels): a buyer registered through
/buyer/v1/register opens a conversation through an entry channel with the bearer token,
sends and reads messages, and the agent's reply reaches the buyer's inbox and the chat."""

from __future__ import annotations

from typing import Any

from xiaodian.runtime import Runtime

CONVERSATIONS = "/buyer/v1/service/conversations"


def _register(client: Any, douyin_id: str, nickname: str) -> dict[str, str]:
    answer = client.post(
        "/buyer/v1/register",
        json={"douyin_id": douyin_id, "nickname": nickname, "phone": "13912345678"},
    )
    assert answer.status_code == 201, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def test_L4_buyer_starts_a_conversation_chats_and_reads_the_agents_reply(
    rt: Runtime, client: Any, shop: Any
) -> None:
    auth = _register(client, "dy_xiaohong", "小红")
    started = client.post(
        CONVERSATIONS,
        headers=auth,
        json={"shop_id": shop.shop_id, "channel": "douyin", "text": "你好，我的福袋奖品呢？"},
    )
    assert started.status_code == 201, started.text
    conversation = started.json()
    assert (conversation["channel"], conversation["channel_label"]) == ("douyin", "抖音")
    assert conversation["buyer_nickname"] == "小红"
    path = f"{CONVERSATIONS}/{conversation['id']}/messages"

    # Entering again through the same channel re-opens the same conversation.
    again = client.post(
        CONVERSATIONS, headers=auth, json={"shop_id": shop.shop_id, "channel": "douyin"}
    )
    assert again.json()["id"] == conversation["id"]

    said = client.post(path, headers=auth, json={"text": "  什么时候发货？  "})
    assert said.status_code == 200, said.text
    assert (said.json()["sender"], said.json()["body"]) == ("buyer", "什么时候发货？")

    # The agent sees the conversation and answers through the open API.
    listed = shop.api.get("/api/v1/service/conversations").json()
    assert [c["id"] for c in listed] == [conversation["id"]]
    reply = shop.api.post(
        f"/api/v1/service/conversations/{conversation['id']}/messages", {"text": "今天就发货"}
    )
    assert reply.status_code == 200, reply.text

    chat = client.get(path, headers=auth)
    assert chat.status_code == 200
    assert [(m["sender"], m["body"]) for m in chat.json()] == [
        ("buyer", "你好，我的福袋奖品呢？"),
        ("buyer", "什么时候发货？"),
        ("agent", "今天就发货"),
    ]
    inbox = client.get("/buyer/v1/inbox", headers=auth).json()["items"]
    assert [(m["kind"], m["title"], m["body"]) for m in inbox] == [
        ("text", "商家客服回复", "今天就发货")
    ]
    assert inbox[0]["payload"] == {"conversation_id": conversation["id"]}
    assert inbox[0]["shop_id"] == shop.shop_id


def test_L4_buyer_conversation_refuses_bad_input_and_strangers(
    rt: Runtime, client: Any, shop: Any
) -> None:
    auth = _register(client, "dy_xiaohong", "小红")
    # No or a wrong bearer token.
    body = {"shop_id": shop.shop_id, "channel": "douyin"}
    assert client.post(CONVERSATIONS, json=body).status_code == 401
    wrong = {"Authorization": "Bearer not-a-token"}
    assert client.post(CONVERSATIONS, headers=wrong, json=body).status_code == 401

    # An unknown entry channel: 422 naming the channels, in Chinese and English.
    bad = client.post(
        CONVERSATIONS, headers=auth, json={"shop_id": shop.shop_id, "channel": "weibo"}
    )
    assert bad.status_code == 422, bad.text
    problem = bad.json()
    assert problem["code"] == "invalid_channel"
    assert "不支持的进线渠道" in problem["message_zh"] and "douyin" in problem["message_en"]
    # An unknown shop: 404.
    missing = client.post(CONVERSATIONS, headers=auth, json={"shop_id": 987_654, "channel": "web"})
    assert missing.status_code == 404, missing.text

    conversation = client.post(
        CONVERSATIONS, headers=auth, json={"shop_id": shop.shop_id, "channel": "web"}
    ).json()
    path = f"{CONVERSATIONS}/{conversation['id']}/messages"
    # An empty message: 422 in both languages; nothing stored.
    empty = client.post(path, headers=auth, json={"text": "   "})
    assert empty.status_code == 422, empty.text
    assert empty.json()["code"] == "invalid_message"
    assert empty.json()["message_zh"] and empty.json()["message_en"]
    assert client.get(path, headers=auth).json() == []

    # Another buyer can neither read nor write this conversation.
    other = _register(client, "dy_other", "小明")
    assert client.get(path, headers=other).status_code == 404
    assert client.post(path, headers=other, json={"text": "偷看"}).status_code == 404

"""The buyer's pages 买家页面 (issue 17, F8): the shop homepage with 领取, 我的卡券 with code and
QR, the buyer's orders with 申请售后 / 撤销 / 修改 / 申请平台介入, and 消息 — so a merchant can
walk a buyer's path without the API. Every decision is the owning context's service."""

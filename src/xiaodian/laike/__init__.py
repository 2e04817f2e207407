"""抖音来客 (goodlife/v1) compatibility gateway (issue 12, D5): a store-verification client
written for the real platform works against xiaodian by changing only its base URL to
``http://HOST:PORT/douyin``. Every rule stays in ``xiaodian.coupons`` (C5–C7)."""

"""O2 导出查询订单, one sub-package of the orders context (issue 15 M3).

``models`` (export records and download codes), ``service`` (records, phone verification,
the background job, ``write_export``), ``rows`` (the columns, the batches, the row sources),
``csv_export`` and ``xlsx_export`` (the file writers; ``xlsx`` is the SpreadsheetML writer),
``api`` (``/api/v1/orders/exports``), ``mappers`` and ``web`` (the console pages). Import the
module you need: this package re-exports nothing.
"""

"""O2 导出查询订单, one sub-package of the orders context (issue 15 M3).

``models`` (export records and download codes), ``service`` (records, phone verification,
the background job and the file writers), ``api`` (``/api/v1/orders/exports``) and ``web``
(the console pages). Import the module you need: this package re-exports nothing.
"""

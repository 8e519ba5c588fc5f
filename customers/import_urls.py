# CSV import pages (upload, live progress, error report); included under /customers/import/.
urlpatterns: list = []

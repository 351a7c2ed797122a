# lme4 predict() reference values for LMMResult.predict / GLMMResult.predict:
#   cd tests/trials/data && Rscript predict.R
# Writes sleepstudy.csv (lme4's sleepstudy) and predict.json; cbpp and the count trial are
# tests/reference/glmm_cbpp.csv and glmm_counts.csv.
suppressMessages({library(lme4); library(jsonlite)})
ss <- as.data.frame(sleepstudy); ss$Subject <- as.character(ss$Subject)
write.csv(ss, "sleepstudy.csv", row.names = FALSE)
# tight optimiser tolerances, as tests/trials/data/lme4_extra.R, so the comparison is to 1e-6
ctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 2e-4, rhoend = 2e-12, maxfun = 1e5))
gctrl <- glmerControl(optimizer = "bobyqa", tolPwrss = 1e-12,
                      optCtrl = list(rhobeg = 2e-3, rhoend = 1e-12, maxfun = 1e5))
m1 <- lmer(Reaction ~ Days + (Days | Subject), ss, REML = TRUE, control = ctrl)
new1 <- data.frame(Days = c(0, 3.5, 9, 2, 12), Subject = c("308", "309", "372", "999", "999"))
cb <- read.csv("../../reference/glmm_cbpp.csv", colClasses = c(herd = "character", period = "character"))
m2 <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cb, binomial, control = gctrl)
new2 <- data.frame(period = c("1", "2", "4", "3"), herd = c("1", "5", "15", "99"))
cnt <- read.csv("../../reference/glmm_counts.csv", colClasses = c(family = "character"))
m3 <- glmer(visits ~ wave + treated + offset(log(months)) + (1 | family), cnt, poisson, control = gctrl)
new3 <- data.frame(wave = c(0, 1, 2, 1), treated = c(0, 1, 1, 0), months = c(2.3, 1, 4.5, 3),
                   family = c("f001", "f002", "f003", "zz-new"))
out <- list(
  lme4 = as.character(packageVersion("lme4")),
  lmm = list(formula = "Reaction ~ Days + (Days | Subject)",
             full = unname(predict(m1)), fixed = unname(predict(m1, re.form = NA)),
             newdata = new1,
             new_full = unname(predict(m1, new1, allow.new.levels = TRUE)),
             new_fixed = unname(predict(m1, new1, re.form = NA))),
  glmm = list(formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)",
              full_link = unname(predict(m2)), full_response = unname(predict(m2, type = "response")),
              fixed_link = unname(predict(m2, re.form = NA)),
              fixed_response = unname(predict(m2, re.form = NA, type = "response")),
              newdata = new2,
              new_full_link = unname(predict(m2, new2, allow.new.levels = TRUE)),
              new_full_response = unname(predict(m2, new2, allow.new.levels = TRUE, type = "response")),
              new_fixed_link = unname(predict(m2, new2, re.form = NA))),
  glmm_offset = list(formula = "visits ~ wave + treated + offset(log(months)) + (1 | family)",
                     full_link = unname(predict(m3)),
                     newdata = new3,
                     new_full_link = unname(predict(m3, new3, allow.new.levels = TRUE)),
                     new_full_response = unname(predict(m3, new3, allow.new.levels = TRUE,
                                                        type = "response"))))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "predict.json")

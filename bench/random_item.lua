-- wrk script: GET /items/{id} over the 100 seeded items.
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/items/" .. math.random(1, 100))
end
